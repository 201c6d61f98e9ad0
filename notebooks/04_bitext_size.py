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
# # How much bitext? KD vs OT as the number of pairs grows
#
# One student per language, loss and bitext size N (the first N pairs of the leakage-filtered bitext:
# AfriQA question pairs first, then news), trained for the same number of steps, scored on that language's
# dev split. Where does OT's advantage appear or vanish?

# %% tags=["parameters"]
dataset = "afriqa"
teacher = "all-MiniLM-L6-v2"
bitext_size = {"languages": ["hau"], "sizes": [100, 300], "losses": ["kd", "ot"],
               "train": {"max_steps": 40, "batch_size": 32, "lr": 1.0e-4, "max_length": 64, "seed": 0}}
root = "."
fresh = False

# %%
from optical.params import checked_parameters

params = checked_parameters(globals(), "04_bitext_size")  # unknown names stop the run; lists as YAML
globals().update(params)

# %%
import matplotlib.pyplot as plt
import pandas as pd

from optical.studies.chapters import run_chapter
from optical.report.plots import size_curves

results = run_chapter("04_bitext_size", params, root, fresh)["bitext_size"]
rows = [{"language": r["params"]["languages"][0], "pairs": r["params"]["train"]["max_pairs"],
         "loss": r["params"]["train"]["loss"], "dev MRR@10": r["macro"]["MRR@10"]} for r in results.values()]
frame = pd.DataFrame(rows)
frame.pivot_table(index=["language", "pairs"], columns="loss", values="dev MRR@10").style.format("{:.3f}").set_caption(
    "dev MRR@10 by language, number of bitext pairs and loss")

# %% mystnb={"figure": {"caption": "The first bitext-size study (superseded: 30 steps, one seed, dev questions in the pool), dev MRR@10 against the number of pairs. In the committed run KD is above OT at every size in all three languages; size and passes are confounded (a fixed number of steps)."}}
size_curves(frame)
plt.show()
