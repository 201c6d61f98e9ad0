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
# # Audit of the fair test
#
# What a reviewer checks behind {doc}`08_fair_test`, read from the stored results (nothing is trained or read on
# test here): for each final reading, the per-language paired tests against KD (exploratory: the claim is about the
# macro difference, tested in the chapter itself), the macro MRR@10 of every seed, and the provenance of the MaxSim
# reads made from replayed students.

# %% tags=["parameters"]
params_file = "params/full.yaml"   # the main job's parameters: its English final readings (role: english)
root = "."

# %%
from optical.params import checked_parameters

globals().update(checked_parameters(globals(), "13_audit"))  # unknown names stop the run; lists as YAML

# %%
import pandas as pd
from IPython.display import Markdown, display

from optical.io import read_json_folder
from optical.params import load_params
from optical.report.tables import seed_table, significance_table
from optical.studies.test_reads import replayed_reads
from optical.study_spec import studies_with_role

params = load_params(params_file, root)

# %% [markdown]
# ## Per language, per final reading (exploratory)
#
# Paired randomisation of each query's reciprocal rank (averaged over the seeds) against KD's in the same readout,
# Holm-corrected over the languages. With about 250–500 queries a language only gaps of about 0.025–0.04 are
# detectable, so "not significant" here is not evidence of a tie.

# %%
for study in reversed(studies_with_role(params, "english")):  # the latest first
    tested = read_json_folder(f"{root}/results/{study.key}/test")
    sig = significance_table(tested)
    if len(sig):
        display(Markdown(f"**Students {study.label or ''}** (`{study.key}`)"))
        display(sig.style.format({"ΔMRR@10": "{:+.3f}", "p": "{:.4f}", "p (Holm)": "{:.4f}"}).hide(axis="index"))
        seeded = {name: r for name, r in tested.items() if len(r.get("seeds", [])) > 1}
        if seeded:
            display(seed_table(seeded).style.format(precision=3, na_rep="–").set_caption("macro MRR@10 by seed"))

# %% [markdown]
# ## Reads from replayed students
#
# An exact replay gives back the run's dev history with the selection criterion (macro dev MRR@10) bit for bit, so
# it is the student of the run's other reads. Some token-KD replays did not give back their run (their dev numbers
# drifted after a few hundred steps; the cause was not identified): such a replay was accepted as a *near* replay
# when every dev number was within `tolerance` of the run's and its best dev step was the run's. The tolerance,
# 0.02, was set before any near replay was read on test. A near replay's MaxSim read is of a student with the run's
# configuration, seed and dev-chosen step, not bit for bit the student of its pooled read. New studies read every
# declared readout when each student is trained, so they need no replay.

# %%
replays = pd.DataFrame(replayed_reads("long_rerun", root)).T
(replays.style.format({"tolerance": "{:g}", "max_dev_difference": "{:.4f}"}).set_caption(
    "test reads made from replayed students: how close each replay's dev history came to its run's")
 if len(replays) else Markdown("No test read here records a replay."))
