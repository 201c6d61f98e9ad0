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
# # The AfriQA-CLIR benchmark
#
# Queries in eight African languages, gold passages from English Wikipedia (AfriQA, CC BY 4.0), and the
# training bitext: MAFAND-MT news (CC BY-NC 4.0; train and test splits, dev held out) plus AfriQA train question
# pairs, with every pair that repeats a dev or test question or its translation (any language) or a MAFAND dev
# sentence removed. Counts below are computed by `optical.data`.

# %% tags=["parameters"]
dataset = "afriqa"
languages = ["hau", "ibo", "yor", "swa", "zul", "kin", "twi", "bem"]
root = "."

# %%
from optical.params import checked_parameters

params = checked_parameters(globals(), "00_data")  # unknown names stop the run; lists as YAML
globals().update(params)

# %%
import pandas as pd
from IPython.display import Markdown, display

from optical.data.afriqa import DATASETS
from optical.studies.chapters import run_chapter

summary = run_chapter("00_data", params, root)["summary"]
display(Markdown(f"**Corpus:** {summary['corpus_size']:,} distinct English gold passages of all splits; "
                 f"`{dataset}`: {DATASETS[dataset]}."))

# %% [markdown]
# Queries per language (test: scored once per reported system; dev: model selection) and bitext pairs by
# source. *removed leakage* counts pairs whose L or English side equals (case-folded) a test question or its
# translation in any language; *removed duplicates* counts exact repeats.

# %%
counts = pd.DataFrame(summary["languages"])  # languages as columns: the table fits the page
counts.index = [c.replace("bitext removed_", "removed: ").replace("bitext ", "bitext: ").replace(
    "test queries without gold passage", "test queries without gold") for c in counts.index]
counts.style.format("{:,}")

# %% [markdown]
# One test query per language with its human English translation and the start of its gold passage.

# %%
pd.DataFrame(summary["examples"]).T.style.set_properties(**{"text-align": "left"})  # text, not figures
