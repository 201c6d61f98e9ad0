# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The low-data regime: KD and OT with 100 to 1,000 pairs per language
#
# OPTICAL's abstract claims its gain comes with minimal training data. This chapter trains students on the first N
# leakage-filtered bitext pairs of each of the eight languages (N = 100, 300, 1,000: AfriQA's training questions
# first, then MAFAND news, so the smallest sizes are questions only), jointly, for a fixed number of epochs (four:
# every size sees its pairs equally often, unlike the first bitext-size study of {doc}`04_bitext_size`), with KD and
# with the OT variant chosen on the arm's dev study (not re-chosen per size: our choice), two seeds each, selected
# on AfriQA dev after every epoch. Two arms: the MiniLM student of the fair test (KD against OT★) and the better
# multilingual arm, e5t (mE5-small teacher, its copy as student; KD against the OT its dev study chose, see
# {doc}`12_multilingual_fair`). The test split is read once at the smallest size, in both readouts, with the
# equivalence margin written in the parameters before the read; the largest size is each arm's answer on all the
# bitext (MiniLM: {doc}`08_fair_test`'s re-answer, up to 4,000 pairs and 2,000 steps, about two epochs; e5t: its
# test study, 500 steps, about half an epoch).

# %% tags=["parameters"]
dataset = "afriqa"
teacher = "all-MiniLM-L6-v2"
e5t_dev = None         # the multilingual dev study whose rules choose the e5t arm's students
low_data_100 = None    # the low-data studies (params/full.yaml); None: not run with these parameters
low_data_300 = None
low_data_1000 = None
low_data_e5t_100 = None
low_data_e5t_300 = None
low_data_e5t_1000 = None
root = "."
fresh = False

# %%
from optical.params import checked_parameters

params = checked_parameters(globals(), "14_low_data")  # unknown names stop the run; lists as YAML
globals().update(params)

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from optical.io import read_json_folder
from optical.report.plots import curves_by_panel, show_plans, size_curves
from optical.report.tables import (plan_entropy_table, show_dev_table, show_final_test,
                                   size_frame)
from optical.studies.chapters import run_chapter

ARMS = {"low_data": ("MiniLM student", "long_rerun"), "low_data_e5t": ("e5t (mE5-small)", "e5t")}
chapter = run_chapter("14_low_data", params, root, fresh)  # the studies run (or read back), then shown
runs = chapter["runs"]
if not runs:
    display(Markdown("Not run with these parameters: the main job's `params/full.yaml` runs these studies "
                     "(`optical book --params params/full.yaml`); see the limitations."))

# %% [markdown]
# ## Dev, by bitext size

# %% mystnb={"figure": {"caption": "Best macro dev MRR@10 of KD and the dev-chosen OT against the bitext pairs per language, one panel per arm (mean of two seeds, four epochs each): in the committed run OT is above KD at every size for e5t, while for the MiniLM student KD is above OT at 100 and 300 pairs and level at 1,000."}}
frame = pd.concat([size_frame({pairs: out["dev"] for pairs, out in by_size.items()}, panel=ARMS[arm][0])
                   for arm, by_size in runs.items()]) if runs else pd.DataFrame()
if len(frame):
    size_curves(frame)
    plt.show()

# %%
(frame.rename(columns={"language": "arm"}).style.format(precision=3, na_rep="–").hide(axis="index")
 if len(frame) else None)

# %% [markdown]
# ## Learning curves at each size

# %% mystnb={"figure": {"caption": "Dev learning curves (AfriQA dev queries) at each bitext size, one panel per arm and size, one evaluation per epoch: in the committed run e5t's OT students are above its KD students at every evaluation of every size, while the MiniLM student's KD stays above OT\u2605 at 100 and 300 pairs and the two meet at 1,000. Each student is kept at its best dev step (tables below, with the held-out bitext criterion)."}}
if runs:
    curves_by_panel({f"{ARMS[arm][0]}, {pairs:,} pairs": out["dev"] for arm, by_size in runs.items()
                     for pairs, out in by_size.items()})
    plt.show()

# %%
for arm, by_size in runs.items():
    for pairs, out in by_size.items():
        display(Markdown(f"**{ARMS[arm][0]}, {pairs} pairs per language**"))
        show_dev_table(out["dev"])

# %% [markdown]
# ## Test at the smallest and the largest size

# %%
for arm, by_size in runs.items():
    label, answer = ARMS[arm]
    smallest = min(by_size)
    if by_size[smallest]["test"]:
        show_final_test(by_size[smallest]["test"], ["pooled", "maxsim"],
                        f"{label}: test MRR@10 with {smallest} bitext pairs per language")
    if largest := read_json_folder(f"{root}/results/{answer}/test"):
        same = [k for k in by_size[smallest]["test"] if k in largest] or list(largest)  # the smallest size's rows
        show_final_test({k: largest[k] for k in same}, ["pooled", "maxsim"],
                        f"{label}: test MRR@10 with every bitext pair ({answer})")

# %% [markdown]
# ## Transport plans of OT★
#
# The fair test's OT student, OT★ (ε 0.01 annealed from 0.5, IDF token masses), as trained here on 1,000 pairs per
# language (its students of {doc}`08_fair_test`, trained on every pair, were not kept), on two Hausa training pairs, at its
# initialisation (a copy of the teacher) and at its best dev step, beside token-KD's hard one-to-one alignment. Rows
# are the student's Hausa tokens, columns the teacher's English tokens; a row entropy near 1 means a token spreads
# its mass evenly, near 0 that it picks one token.

# %%
plans = chapter["plans"]
(plan_entropy_table(plans["examples"]).style.format(precision=3).hide(axis="index").set_caption(
    "row entropy of OT★'s plans before and after training") if plans else
 Markdown("Not run with these parameters: the plans come from the 1,000-pair OT★ student."))

# %% mystnb={"figure": {"caption": "Transport plans of OT\u2605 (1,000 pairs per language) on Hausa training pairs, before and after training, beside token-KD's hard alignment: where each Hausa token's mass goes among the English tokens."}}
if plans:
    show_plans(plans["examples"])
