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
low_data_100 = None    # the low-data studies the parameters declare (chapter 14); None: not declared
low_data_300 = None
low_data_1000 = None
low_data_e5t_100 = None
low_data_e5t_300 = None
low_data_e5t_1000 = None
e5t_curves = None      # each multilingual arm's learning curve and its answer at the curve's budget (chapter 12);
e5s_curves = None      # None: not declared
e5t_long = None
e5s_long = None
root = "."

# %%
from pathlib import Path

from IPython.display import Markdown, display

from optical.report.conclusions import conclusions

low_data = {"low_data_100": low_data_100, "low_data_300": low_data_300, "low_data_1000": low_data_1000,
            "low_data_e5t_100": low_data_e5t_100, "low_data_e5t_300": low_data_e5t_300,
            "low_data_e5t_1000": low_data_e5t_1000}
multilingual = {"e5t_curves": e5t_curves, "e5s_curves": e5s_curves, "e5t_long": e5t_long, "e5s_long": e5s_long}
display(Markdown(conclusions(Path(root) / "results", dataset, [key for key, study in low_data.items() if study],
                             [key for key, study in multilingual.items() if study])))
