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
# # WebFAQ-CLIR: the same comparison on web FAQs
#
# Queries are FAQ questions in a low-resource language L, documents the English answers of the same FAQ pages,
# split **by web site** (train / dev / test sites) so that one site's templated FAQs never leak between splits;
# the training bitext is the (L question, English question) pairs of the training sites. Baselines and the four
# students are those of the AfriQA chapters, trained on WebFAQ bitext.
#
# **How to run it** (needs the Hugging Face hub, or a local copy named by `OPTICAL_WEBFAQ_DIR`): the languages must
# be among those the WebFAQ bitext cards list; of the African languages of this book they list Swahili and Amharic.
#
# ```bash
# jupytext --to ipynb notebooks/06_webfaq.py
# papermill notebooks/06_webfaq.ipynb out.ipynb -f params/full.yaml -p root my_webfaq   # results in my_webfaq/
# ```

# %% tags=["parameters"]
teacher = "all-MiniLM-L6-v2"
webfaq = {"languages": ["swa", "amh"]}
losses = ["kd", "token-kd", "ot", "ot+kd"]
train = {"max_pairs": 800, "epochs": 1, "batch_size": 32, "lr": 1.0e-4, "max_length": 64, "epsilon": 0.05,
         "eval_every": 100, "seed": 0}
root = "."
fresh = False

# %%
from optical.params import checked_parameters

params = checked_parameters(globals(), "06_webfaq")  # unknown names stop the run; lists as YAML
globals().update(params)

# %%
from IPython.display import Markdown, display

from optical.studies.chapters import run_chapter
from optical.report.tables import metric_table, significance_table

chapter = run_chapter("06_webfaq", params, root, fresh)
if chapter["note"]:
    display(Markdown(chapter["note"]))
else:
    refs, results = chapter["refs"], chapter["students"]
    display(metric_table({**refs, **results}, "MRR@10").style.format("{:.3f}").set_caption("WebFAQ-CLIR test MRR@10"))
    display(significance_table(results))
