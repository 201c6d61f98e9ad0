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
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from optical.studies.experiments import alignment_examples
from optical.report.plots import transport_heatmap

result = alignment_examples({"dataset": dataset, "teacher": teacher, "train": train, "alignment": alignment}, root)
if result["trained_student"] is None:
    display(Markdown("No trained OT student found (run the distillation notebook first): showing the plan before training only."))

# %% [markdown]
# How peaked is each plan? Mean normalised entropy of its rows: 0 when every student token sends all its mass to
# one English token, 1 when it spreads its mass evenly over all of them. A rise after training would mean the
# student's tokens became interchangeable (closer to a common direction) rather than aligned one-to-one.

# %%
pd.DataFrame([{"pair": e["source"][:40], **{f"{stage}: row entropy": plans["row_entropy"]
                                            for stage, plans in e["plans"].items()}} for e in result["examples"]]
             ).style.format(precision=3).hide(axis="index")

# %% mystnb={"figure": {"caption": "Transport plans of the first OT student for sentence pairs of the training language (rows: student tokens in L, columns: teacher tokens in English), before and after training, next to the hard one-to-one alignment of token-KD; each cell is the share of a student token's mass sent to a teacher token."}}
for example in result["examples"]:
    display(Markdown(f"**{example['source']}** → *{example['target']}*"))
    panels = [(f"OT plan, {stage} training (cost {plans['ot_cost']:.3f})", plans["ot"]) for stage, plans in example["plans"].items()]
    panels.append(("hard alignment (token-KD), " + list(example["plans"])[-1], example["plans"][list(example["plans"])[-1]]["hard"]))
    width = min(0.45 * len(example["teacher_tokens"]) + 3, 11)  # one panel a row: labels stay readable
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, len(panels) * (0.3 * len(example["student_tokens"]) + 2)))
    for ax, (title, plan) in zip(np.atleast_1d(axes), panels):
        transport_heatmap(np.array(plan), example["student_tokens"], example["teacher_tokens"], title, ax=ax)
    plt.tight_layout()
    plt.show()
