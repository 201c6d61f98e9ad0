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
# # The low-data regime: KD and OT with 10 to 1,000 pairs per language
#
# OPTICAL's abstract claims its gain comes with minimal training data. This chapter trains students on the first N
# leakage-filtered bitext pairs of each of the eight languages (N = 10, 30, 100, 300, 1,000: AfriQA's training
# questions first, then MAFAND news, so the smallest sizes are questions only), jointly, for a fixed number of epochs
# (four, the budget rule at every size:
# every size sees its pairs equally often, unlike the first bitext-size study of {doc}`04_bitext_size`), with KD and
# with the OT variant chosen on the arm's dev study (not re-chosen per size: our choice), two seeds each (five at
# 10 and 30 pairs, where a seed costs little), selected on AfriQA dev (every few steps at the smallest sizes). Two arms: the MiniLM student of the fair test (KD against OT★) and the better
# multilingual arm, e5t (mE5-small teacher, its copy as student; KD against the OT its dev study chose, see
# {doc}`12_multilingual_fair`). The test split is read once per final student at 10, 30 and 100 pairs (300 and
# 1,000: dev only so far), in both readouts, with the equivalence margin written in the parameters before the read;
# beside them, each arm's answer on all the bitext (MiniLM: {doc}`08_fair_test`'s re-answer, up to 4,000 pairs and
# 2,000 steps, about two epochs; e5t: its answer at 2,000 steps, {doc}`12_multilingual_fair`) and the best
# training-free map of the arm's encoder fit on the same pairs ({doc}`11_closed_form`, chosen on dev per size).

# %% tags=["parameters"]
dataset = "afriqa"
teacher = "all-MiniLM-L6-v2"
e5t_dev = None         # the multilingual dev study whose rules choose the e5t arm's students
low_data_10 = None     # the low-data studies (params/full.yaml); None: not run with these parameters
low_data_30 = None
low_data_100 = None
low_data_300 = None
low_data_1000 = None
low_data_e5t_10 = None
low_data_e5t_30 = None
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
from optical.report.summary import family_macro
from optical.report.plots import curves_by_panel, low_data_test, show_plans, size_curves
from optical.report.tables import (low_data_test_frame, plan_entropy_table, show_dev_table, show_final_test,
                                   size_frame)
from optical.studies.chapters import run_chapter

ARMS = {"low_data": ("MiniLM student", "long_rerun", "minilm"), "low_data_e5t": ("e5t (mE5-small)", "e5t_long", "me5")}
"""Each arm: its label, the study of its answer on every pair, its encoder's closed-form space."""
chapter = run_chapter("14_low_data", params, root, fresh)  # the studies run (or read back), then shown
runs = chapter["runs"]
if not runs:
    display(Markdown("Not run with these parameters: the main job's `params/full.yaml` runs these studies "
                     "(`optical book --params params/full.yaml`); see the limitations."))
if chapter["not_run"]:
    display(Markdown("Declared in the parameters and not complete yet (`optical run --params params/full.yaml "
                     "--study <study>` trains what is missing and resumes a study that stopped): " + ", ".join(
                         f"`{key}` ({stored} student{'s' if stored != 1 else ''} stored)"
                         for key, stored in chapter["not_run"].items()) + "."))

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
# ## Test, by bitext size

# %% mystnb={"figure": {"caption": "Test macro MRR@10 (pooled readout) against bitext pairs per language, one row per arm. Left: KD, OT, the best training-free map of the arm's encoder (chosen on dev at each size), the zero-shot floor (dashed) and each arm's answer on every pair (dotted). Right: OT \u2212 KD with its 95% CI (seed-corrected bootstrap), zero dashed."}}
maps = read_json_folder(f"{root}/results/closed_form")
tested = {arm: {pairs: out["test"] for pairs, out in by_size.items() if out["test"]} for arm, by_size in runs.items()}
test_frame = pd.concat([low_data_test_frame(tested[arm], ARMS[arm][0], maps.get(ARMS[arm][2]))
                        for arm in tested if tested[arm]]) if any(tested.values()) else pd.DataFrame()
if len(test_frame):
    low_data_test(test_frame, {ARMS[arm][0]: family_macro(read_json_folder(f"{root}/results/{ARMS[arm][1]}/test"))
                               for arm in tested})
    plt.show()

# %%
(test_frame[test_frame.system.isin(["KD", "OT", "map"])].pivot_table(
    index=["panel", "pairs"], columns="system", values="MRR@10").join(
    test_frame[test_frame.system == "OT"].set_index(["panel", "pairs"])[["delta", "ci_low", "ci_high"]]
    .rename(columns={"delta": "OT − KD", "ci_low": "95% CI low", "ci_high": "95% CI high"}))
 .style.format(precision=3, na_rep="–").set_caption("test macro MRR@10 (pooled) by arm and pairs per language")
 if len(test_frame) else None)

# %% [markdown]
# Each size's full test reads, both readouts, with the two-part verdict against KD:

# %%
for arm, by_size in tested.items():
    for pairs, reads in by_size.items():
        show_final_test(reads, ["pooled", "maxsim"], f"{ARMS[arm][0]}: test MRR@10 with {pairs} bitext pairs per language")

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
