"""Reporting, the reading side: tables, plots, generated prose, names and colours of the stored results.

Imported in a notebook kernel (papermill, Jupyter), it quiets library chatter for the notebook's outputs but keeps
the training progress bar, so a notebook a user runs alone shows its steps; ``optical book`` quiets its kernels
entirely (:data:`QUIET`); variables already set are kept.
"""

import os
import sys

QUIET = {"TQDM_DISABLE": "1", "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
         "TOKENIZERS_PARALLELISM": "false",
         "PYTHONWARNINGS": "ignore:IProgress not found"}  # tqdm.auto's notice when ipywidgets is absent
"""Environment of the kernels: no progress bars in the book's outputs."""

if "ipykernel" in sys.modules:
    for _key, _value in QUIET.items():
        if _key != "TQDM_DISABLE":
            os.environ.setdefault(_key, _value)
