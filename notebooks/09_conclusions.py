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
# # Conclusions
#
# Generated from the stored results of the other chapters; nothing here is typed by hand.

# %% tags=["parameters"]
dataset = "afriqa"
root = "."

# %%
from pathlib import Path

from IPython.display import Markdown, display

from optical.report.conclusions import conclusions

display(Markdown(conclusions(Path(root) / "results", dataset)))
