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
# pip install -e ".[dev]" && optical book --params params/full.yaml   # the main job: experiments + this book
# pip install -e ".[dev]" && python -m pytest                          # the tests
# ```
#
# Every study of the main job's parameters (`params/full.yaml`, in the repository) has one command,
# `optical run --params params/full.yaml --study <study>`: it trains only the students the result store lacks
# (each result is keyed by the digest of the parameters that made it), reads the test split of a final study once
# per student, and writes `results/<study>/`; `--student <name>` trains one student of a study (a session's share
# of a long one) and a killed run resumes from its checkpoint in `runs/`. The table below gives, per study, what it
# trains, the CPU hours its stored results recorded and that command.
#
# **Re-render a chapter with the main job's parameters** (nothing is trained: every result's parameters match), and
# **change a parameter without touching `results/`** (results and students go under another `root`):
#
# ```bash
# mkdir -p scratch
# papermill notebooks/09_conclusions.ipynb scratch/09.ipynb -p root .
# papermill notebooks/02_distillation.ipynb scratch/02.ipynb -p dataset afriqa-mini -p languages hau \
#     -p losses kd,ot -p seeds 0 -p train '{max_pairs: 64, eval_every: 0}' -p root scratch
# ```
#
# **The data**: AfriQA (CC BY 4.0) and MAFAND-MT (CC BY-NC 4.0) as laid out in `shared/data/README.md`, in a folder
# `shared/data` beside the repository or named by `OPTICAL_DATA_DIR`; they are never copied into the repository.
# WebFAQ is read from the Hugging Face hub (`PaDaS-Lab/webfaq-bitexts`) or `OPTICAL_WEBFAQ_DIR`.

# %% tags=["parameters"]
params_file = "params/full.yaml"   # the parameters whose studies the table lists
root = "."

# %%
from optical.params import checked_parameters

globals().update(checked_parameters(globals(), "10_reproduce"))  # unknown names stop the run; lists as YAML

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

from optical.io import read_json
from optical.params import load_params
from optical.report.tables import compute_cost, reproduce_table

cost = compute_cost(Path(root) / "results")
table = reproduce_table(cost, load_params(params_file, root), params_file)
if table.empty:
    display(Markdown("No study of these parameters has stored results yet."))
else:
    display(table.style.format({"training (h)": "{:.2f}", "evaluation (h)": "{:.2f}"}).set_caption(
        "Every study: what it trains, the CPU hours its stored results recorded, and its command"))
    total = cost.loc["total"]
    display(Markdown(f"The studies above: {table['training (h)'].sum():.1f} h of training and "
                     f"{table['evaluation (h)'].sum():.1f} h of evaluation; every results folder (the first "
                     f"comparison's too): {total['training (h)']:.1f} h and {total['evaluation and maps (h)']:.1f} h, "
                     f"on {', '.join(sorted(set(table['device']) - {'–'}))}. The times come from a "
                     "2-core CPU, each run with one or two threads and some beside another run, so each bounds from "
                     "above what the run needs alone; a run resumed from its checkpoint counts the steps it kept, "
                     "not those a stopped session lost; replays (students re-trained to a best step for a MaxSim "
                     "read) are not counted."))

# %% [markdown]
# **Regenerate a stored student.** `optical verify --study <study> --student <student>` retrains one stored student
# from the parameters its result was made with (the digest is checked) in `scratch/verify`, through the same code as
# the main job, and prints the largest gap of its training log, dev curve and test reads from the stored ones
# against the tolerances of `optical.verify.TOLERANCES`. The verifications run on this project's machine:

# %%
for path in sorted((Path(root) / "results" / "verify").glob("*.json")):
    record = read_json(path)
    display(Markdown(f"`{record['command']}` at commit `{(record['git_commit'] or '?')[:7]}`: "
                     + ("**reproduced within tolerance**" if record["reproduced"] else "**not reproduced**")
                     + (f" ({record['note']})" if record.get("note") else "")))
    display(pd.DataFrame(record["rows"]).set_index("what").style.format({"gap": "{:.3g}", "tolerance": "{:.0e}"}))

# %%
manifest_path = Path(root) / "results" / "manifest.json"
manifest = read_json(manifest_path) if manifest_path.is_file() else None
if manifest is None:
    display(Markdown("No manifest yet: it is written by `optical book` after each notebook."))
else:
    m = manifest["machine"]
    display(Markdown(f"The build that wrote the stored results: `{manifest['command']}` with "
                     f"`{manifest['params_file']}` at commit `{manifest['git_commit']}` (the commit checked out "
                     f"then, before these results were committed); {m['platform']}, Python {m['python']}, "
                     f"{m['cpus']} CPU cores, GPU: {m['gpu'] or 'none'}; the notebooks took "
                     f"{manifest['wall_s'] / 60:.1f} minutes."))
    display(pd.Series(manifest["versions"], name="version").to_frame().T)
