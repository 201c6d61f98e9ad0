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
# # Conclusions
#
# Generated from the stored results of the other chapters; nothing here is typed by hand.

# %% tags=["parameters"]
params_file = "params/full.yaml"   # the main job's parameters: rendered alone, this chapter shows what the book shows
root = "."

# %%
from optical.params import checked_parameters

globals().update(checked_parameters(globals(), "09_conclusions"))  # unknown names stop the run; lists as YAML

# %%
from IPython.display import Markdown, display

from optical.params import load_params
from optical.report.conclusions import chapter

display(Markdown(chapter(load_params(params_file, root), root)))
