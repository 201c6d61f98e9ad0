# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The low-data regime: KD and OT with 100 to 1,000 pairs per language
#
# OPTICAL's abstract claims its gain comes with minimal training data. This chapter trains the MiniLM student on the
# first N leakage-filtered bitext pairs of each of the eight languages (N = 100, 300, 1,000: AfriQA's training
# questions first, then MAFAND news, so the smallest sizes are questions only), jointly, for a fixed number of
# epochs (four: every size sees its pairs equally often, unlike the first bitext-size study of
# {doc}`04_bitext_size`), with KD and with OT★ (the OT variant chosen on the fair test's dev study, not re-chosen per
# size: our choice), two seeds each, selected on AfriQA dev after every epoch. The test split is read once at the
# smallest size, in both readouts, with the equivalence margin written in the parameters before the read; the
# largest size is the fair test's re-answer ({doc}`08_fair_test`: up to 4,000 pairs, 2,000 steps, about two epochs).

# %% tags=["parameters"]
dataset = "afriqa"
teacher = "all-MiniLM-L6-v2"
low_data_100 = None    # the studies of params/low_data.yaml; None: not run with these parameters
low_data_300 = None
low_data_1000 = None
root = "."
fresh = False

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from optical.io import read_json_folder
from optical.report.plots import size_curves
from optical.report.tables import show_dev_study, show_final_test, size_frame
from optical.studies.runner import run_study

p = {"dataset": dataset, "teacher": teacher, "low_data_100": low_data_100, "low_data_300": low_data_300,
     "low_data_1000": low_data_1000}
declared = {s["train"]["max_pairs"]: key for key, s in p.items() if key.startswith("low_data") and s}
runs = {pairs: run_study(p, key, root, fresh) for pairs, key in sorted(declared.items())}
if not runs:
    display(Markdown("Not run with these parameters: `params/low_data.yaml` declares these studies "
                     "(`optical run --params params/low_data.yaml`); see the limitations."))

# %% [markdown]
# ## Dev, by bitext size

# %% mystnb={"figure": {"caption": "Best macro dev MRR@10 of KD and OT\u2605 against the bitext pairs per language (mean of two seeds, four epochs each): where, if anywhere, OT's advantage at little data shows on dev."}}
frame = size_frame({pairs: out["dev"] for pairs, out in runs.items()})
if len(frame):
    size_curves(frame)
    plt.show()
    display(frame.drop(columns="language").style.format(precision=3, na_rep="–").hide(axis="index"))

# %% [markdown]
# ## Learning curves at each size

# %% mystnb={"figure": {"caption": "Dev learning curves at each bitext size (both dev criteria, one evaluation per epoch): each student is kept at its best dev step."}}
for pairs, out in runs.items():
    display(Markdown(f"**{pairs} pairs per language**"))
    show_dev_study(out["dev"])

# %% [markdown]
# ## Test at the smallest and the largest size

# %%
smallest = min(runs) if runs else None
if smallest is not None and runs[smallest]["test"]:
    show_final_test(runs[smallest]["test"], ["pooled", "maxsim"],
                    f"test MRR@10 with {smallest} bitext pairs per language")
largest = read_json_folder(f"{root}/results/long_rerun/test")
if largest and runs:
    show_final_test(largest, ["pooled", "maxsim"], "test MRR@10 with up to 4,000 pairs per language (chapter 8)")
