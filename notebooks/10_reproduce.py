# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
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
# pip install -e .[dev] && optical book --params params/full.yaml   # the main job: experiments + this book
# pip install -e .[dev] && python -m pytest                          # the tests
# ```
#
# `optical book` executes every notebook in `notebooks/` with papermill (parameters from the YAML file), writes
# the results to `results/` and this book to `_build/html`. Results whose parameters did not change are read
# back instead of recomputed; a crashed training resumes from its checkpoint in `runs/`.
#
# One notebook with other parameters, e.g. only Hausa and only KD, into a separate results folder:
#
# ```bash
# jupytext --to ipynb notebooks/02_distillation.py
# papermill notebooks/02_distillation.ipynb out.ipynb -y "{languages: [hau], losses: [kd], root: my_run}"
# ```
#
# (`root` keeps the committed `results/` intact.) The same with the package alone:
# `optical train --languages hau --loss ot --output-dir runs/hau-ot` then
# `optical evaluate --system runs/hau-ot/student --languages hau`.
#
# Below: the parameters, software, machine and time of the run that produced this book (from `results/manifest.json`).

# %% tags=["parameters"]
root = "."

# %%
from pathlib import Path

import pandas as pd
import yaml
from IPython.display import Markdown, display

from optical.io import read_json
from optical.report.tables import training_times

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
    display(Markdown("Training time of the students, as recorded in each results file when it was computed "
                     "(a rebuild with unchanged parameters reads the results back, so the notebook times above "
                     "can be much shorter than the computation):"))
    display(training_times(Path(root) / "results").style.format({"training wall time (min)": "{:.1f}"}))
    display(pd.Series(manifest["versions"], name="version").to_frame())
    display(Markdown("Parameters:\n\n```yaml\n" + yaml.safe_dump(manifest["params"], sort_keys=False) + "```"))
