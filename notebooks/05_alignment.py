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
# # What the transport plan aligns
#
# For real bitext pairs, the entropic OT plan between the student's tokens of the L sentence (rows) and the
# teacher's tokens of the English translation (columns), before training (the student is a copy of the
# English teacher) and after OT training, next to the hard one-to-one alignment of token-KD. Each row shows
# how a student token's mass is spread over the English tokens (1 = all of it on one token).

# %% tags=["parameters"]
dataset = "afriqa"
teacher = "all-MiniLM-L6-v2"
train = {"max_length": 64, "epsilon": 0.05}
alignment = {"language": "hau", "n_pairs": 2, "student": "ot-seed0"}
root = "."

# %%
from optical.params import checked_parameters

params = checked_parameters(globals(), "05_alignment")  # unknown names stop the run; lists as YAML
globals().update(params)

# %%
from IPython.display import Markdown, display

from optical.report.plots import show_plans
from optical.report.tables import plan_entropy_table
from optical.studies.chapters import run_chapter

result = run_chapter("05_alignment", params, root)["alignment"]
if result["trained_student"] is None:
    display(Markdown("No trained OT student found (run the distillation notebook first): showing the plan before training only."))

# %% [markdown]
# How peaked is each plan? Mean normalised entropy of its rows: 0 when every student token sends all its mass to
# one English token, 1 when it spreads its mass evenly over all of them. A rise after training would mean the
# student's tokens became interchangeable (closer to a common direction) rather than aligned one-to-one.

# %%
plan_entropy_table(result["examples"]).style.format(precision=3).hide(axis="index")

# %% mystnb={"figure": {"caption": "Transport plans of the first OT student for sentence pairs of the training language (rows: student tokens in L, columns: teacher tokens in English), before and after training, next to the hard one-to-one alignment of token-KD; each cell is the share of a student token's mass sent to a teacher token."}}
show_plans(result["examples"])
