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
# # How to reproduce
#
# On a fresh machine with the data folder `shared/data` beside the repository (or `OPTICAL_DATA_DIR` set):
#
# ```bash
# # the main job: experiments + this book
# pip install -e .[dev] && optical book --params params/full.yaml
# # the tests
# pip install -e .[dev] && python -m pytest
# ```
#
# `optical book` executes every notebook in `notebooks/` with papermill (parameters from the YAML file), writes
# the results to `results/` and this book to `_build/html`. Results whose parameters did not change are read
# back instead of recomputed; a crashed training resumes from its checkpoint in `runs/`.
#
# **Re-render a chapter from the stored results** (nothing is trained: every result's parameters match):
#
# ```bash
# jupytext --to ipynb notebooks/08_fair_test.py
# papermill notebooks/08_fair_test.ipynb out.ipynb -f params/full.yaml -p root .
# ```
#
# **Change a parameter without touching `results/`**: give another `root`; results and trained students go
# under it (`my_run/results`, `my_run/runs`):
#
# ```bash
# papermill notebooks/02_distillation.ipynb out.ipynb -f params/full.yaml \
#     -y "{languages: [hau], root: my_run}"
# ```
#
# With `-p root .` *and* other parameters, a notebook retrains and **replaces** the committed results it
# recomputes; each such file is named in the notebook's log, with the parameters that changed. Which commands
# train: `optical book` (for every result whose parameters changed), `optical train`, and every notebook run whose
# parameters differ from the stored results'; `optical evaluate` and the notebooks on unchanged parameters only read.
# The package alone: `optical train --languages hau --loss ot --output-dir runs/hau-ot`, then
# `optical evaluate --system runs/hau-ot/student --languages hau`.
#
# **The data**: AfriQA (CC BY 4.0) and MAFAND-MT (CC BY-NC 4.0) as laid out in `shared/data/README.md`, in a folder
# `shared/data` beside the repository or named by `OPTICAL_DATA_DIR`; they are never copied into the repository.
# WebFAQ is read from the Hugging Face hub (`PaDaS-Lab/webfaq-bitexts`) or `OPTICAL_WEBFAQ_DIR`.
#
# Below: the parameters, software, machine and time of the run that produced this book (from `results/manifest.json`).

# %% tags=["parameters"]
root = "."

# %%
from optical.params import checked_parameters

globals().update(checked_parameters(globals(), "10_reproduce"))  # unknown names stop the run; lists as YAML

# %%
from pathlib import Path

import pandas as pd
import yaml
from IPython.display import Markdown, display

from optical.io import read_json
from optical.report.tables import compute_cost

manifest_path = Path(root) / "results" / "manifest.json"
manifest = read_json(manifest_path) if manifest_path.is_file() else None
if manifest is None:
    display(Markdown("No manifest yet: it is written by `optical book` after each notebook."))
else:
    m = manifest["machine"]
    display(Markdown(f"Command: `{manifest['command']}` with `{manifest['params_file']}`, commit `{manifest['git_commit']}`.  \n"
                     f"Machine: {m['platform']}, Python {m['python']}, {m['cpus']} CPU cores, GPU: {m['gpu'] or 'none'}.  \n"
                     f"Wall time of the notebooks (sum of the table below): {manifest['wall_s'] / 60:.1f} minutes."))
    display(pd.Series(manifest["notebook_wall_s"], name="wall time (s)").to_frame())
    cost = compute_cost(Path(root) / "results")
    total = cost.loc["total"] if "total" in cost.index else None
    display(Markdown("**What a full recompute costs**, from the wall time each results file recorded when it was "
                     "computed (a rebuild with unchanged parameters reads them back, so the notebook times above "
                     "are much shorter)" + (f": {total['training (h)']:.1f} CPU hours of training and "
                     f"{total['evaluation and maps (h)']:.1f} of evaluation ({total['device']}). Re-training students to "
                     "their best dev step for later MaxSim reads (replays) is not included. The committed times come from a "
                     "2-core CPU, each run with one or two threads and some beside another run, so each bounds from "
                     "above what the run needs alone; a run resumed from its checkpoint counts the steps it kept, "
                     "not those a stopped session lost." if total is not None else ".")))
    display(cost.style.format({"training (h)": "{:.2f}", "evaluation and maps (h)": "{:.2f}", "steps": "{:,.0f}",
                               "students": "{:.0f}"}).set_caption("cost per study (results folder) and in total"))
    display(pd.Series(manifest["versions"], name="version").to_frame())
    display(Markdown("Parameters:\n\n```yaml\n" + yaml.safe_dump(manifest["params"], sort_keys=False) + "```"))
