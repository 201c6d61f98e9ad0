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
# # A fair test of OT distillation
#
# The first answer of this book ({doc}`02_distillation`: OT below KD on every language) came from a setup with five
# handicaps for OT. This chapter removes or measures each one, choosing everything on dev, and reads the test
# split once per final configuration.
#
# 1. **Clean dev.** The training bitext no longer holds any AfriQA dev or test question or translation (of any
#    language), nor MAFAND's dev split, which is held out as a second dev criterion that reuses no retrieval
#    query: each L sentence retrieves its English source among the split's English side (MRR, top-1). A test
#    checks the bitext of every language. (The earlier chapters' students were selected on a dev split whose
#    questions were in their bitext; their test numbers are clean, their checkpoint choice favoured KD.)
# 2. **Balanced OT + KD.** KD-MSE is ≈ 2(1 − cos)/384 per pair while the OT cost is O(1 − cos): at weights
#    1 : 1, OT + KD was OT. A cosine KD (1 − cos) is on the OT cost's scale; the gradient norms of both terms at
#    step 0 are logged, and λ_OT is chosen on dev, by the mean over two seeds.
# 3. **ε on the scale of the informative cost.** Adding a constant to a row or column of the cost does not change
#    the plan, so what decides the plan is the double-centred cost; ε can be set to κ times its standard
#    deviation per batch (`epsilon_relative`), annealed from a larger value (`eps_start`), and the Sinkhorn
#    divergence (`debias`) removes the entropic bias that pulls tokens together. At small ε the solver needs more
#    iterations: its marginal error is logged, and a variant runs up to 500 Sinkhorn iterations instead of 100.
# 4. **The readout.** Retrieval by the mean vector does not read token alignments; a late-interaction (MaxSim)
#    readout of student query tokens against teacher passage tokens does. An OT variant with a squared Euclidean
#    cost on raw tokens, [CLS]/[SEP] included, constrains the mean vector too.
# 5. **Enough training.** Learning curves on both dev criteria with several thousand pairs per language.
#
# The test split is read once per final configuration: for KD and the OT and OT + KD variants chosen on dev at the
# dev study's budget, for the students trained to the end of the learning curves, and for the same students
# trained on all eight languages (the re-answer).
#
# Which of these options to use is our choice (the paper's body was not available to us); each is ablated here.

# %% tags=["parameters"]
dataset = "afriqa"
teacher = "all-MiniLM-L6-v2"
fair = {
    "languages": ["hau", "zul", "twi"],
    "train": {"max_pairs": 400, "max_steps": 150, "batch_size": 32, "lr": 1.0e-4, "max_length": 64, "seed": 0,
              "eval_every": 75},
    "variants": {"kd": {"loss": "kd"}, "ot": {"loss": "ot", "epsilon": 0.05}},
    "tested": ["kd", {"best_of": {"study": "fair", "among": "ot"}}],   # read on test: KD and the best OT on dev
    "readouts": ["pooled", "maxsim"],
}
curves = {
    "languages": ["hau", "zul", "twi"],
    "train": {"max_pairs": 4000, "max_steps": 1000, "batch_size": 32, "lr": 1.0e-4, "max_length": 64, "seed": 0,
              "eval_every": 125},
    "variants": {"kd": {"loss": "kd"}},
    "final": True,
    "readouts": ["pooled"],
}
long_curves = {
    "languages": ["hau", "zul", "twi"],
    "train": {"max_pairs": 4000, "max_steps": 2000, "batch_size": 32, "lr": 1.0e-4, "max_length": 64, "seed": 0,
              "eval_every": 125},
    "variants": {"kd": {"loss": "kd"}},
}
rerun = {
    "languages": ["hau", "zul", "twi"],
    "train": {"max_pairs": 4000, "max_steps": 1000, "batch_size": 32, "lr": 1.0e-4, "max_length": 64, "seed": 0,
              "eval_every": 250},
    "variants": {"kd": {"loss": "kd"}},
    "final": True,
    "readouts": ["pooled"],
}
long_rerun = {
    "languages": ["hau", "zul", "twi"],
    "train": {"max_pairs": 4000, "max_steps": 2000, "batch_size": 32, "lr": 1.0e-4, "max_length": 64, "seed": 0,
              "eval_every": 250},
    "variants": {"kd": {"loss": "kd"}},
    "final": True,
    "readouts": ["pooled"],
}
statistics = {"margin": 0.01, "alpha": 0.05, "n_resamples": 100_000}
root = "."
fresh = False

# %%
from optical.params import checked_parameters

params = checked_parameters(globals(), "08_fair_test")  # unknown names stop the run; lists as YAML
globals().update(params)

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from optical.studies.chapters import run_chapter
from optical.studies.diagnostics import dev_by_seed
from optical.report.plots import learning_curves
from optical.report.summary import budget_sentence, longer_budget_sentence
from optical.report.tables import dev_table, ot_diagnostics, show_dev_curves, show_dev_table, show_final_test
from optical.study_spec import check_choices, tested_students

chapter = run_chapter("08_fair_test", params, root, fresh)  # the studies run (or read back), then shown
variants = chapter["fair"]["dev"]

# %% [markdown]
# ## The variants on dev
#
# Joint students on the languages above, AfriQA *train* question pairs only, a short budget; each row at its
# selected checkpoint (best AfriQA dev MRR@10). MAFAND columns: held-out bitext retrieval, mean over the
# languages that MAFAND covers.

# %%
dev_table(variants).style.format(precision=3, na_rep="–").set_caption(
    "AfriQA dev MRR@10 per language and macro; MAFAND dev bitext retrieval")

# %% [markdown]
# The later studies' students chosen on this dev study, each checked against the rule the parameters state
# (`chosen_on_dev`: the best variant of a family by macro dev MRR@10, mean over its seeds):

# %%
Markdown("\n".join(f"* {line}" for line in check_choices(params, "curves", root)) or "No choice is stated.")

# %% [markdown]
# ## Loss scales, ε and plan entropy
#
# For the OT variants: ε and the spread of the informative cost, early and late in training, and the mean
# normalised entropy of the plans' rows (0: each student token sends its mass to one teacher token; 1: spread
# uniformly); the solver's marginal error ‖P1 − a‖₁ late in training (0 when converged). For OT + KD: the ratio of
# the two terms' gradient norms at step 0, before weighting.

# %%
scales = chapter["scales"]
display(Markdown(
    f"At initialisation, on the first batch: ‖∇OT‖ / ‖∇KD‖ = {scales['mse']['ratio_ot_over_kd']:.1f} with KD as an MSE "
    f"(the original), {scales['cosine']['ratio_ot_over_kd']:.2f} with KD as 1 − cos."))

# %%
diagnostics = ot_diagnostics(variants)
diagnostics.style.format("{:.3f}", na_rep="–") if len(diagnostics) else diagnostics

# %%
seeds = pd.DataFrame(dev_by_seed({k: v for k, v in variants.items() if k.startswith("ot+kd")})).T
seeds.columns = [f"seed {s}" for s in seeds.columns]
seeds["mean"] = seeds.mean(axis=1)
seeds.style.format(precision=3, na_rep="–").set_caption("OT + KD (cosine KD): best AfriQA dev MRR@10 by λ_OT and seed")

# %%
tested_here = tested_students(params, "fair", root)  # KD and the winners the study's rules name (`fair.tested`)
dev_score = {name: r["training"]["best_dev_macro_mrr10"] for name, r in variants.items()}
display(Markdown("Read on test, as the study's `tested` rules choose on dev (the best OT and the best OT + KD "
                 "variant by macro dev MRR@10, mean over seeds): " + ", ".join(
                     f"**{name}** ({dev_score[name]:.3f})" for name in tested_here)
                 + " (AfriQA dev MRR@10, macro, seed 0). The test below reads the seed-0 student of each."))

# %% [markdown]
# ## Learning curves
#
# More bitext (AfriQA train questions, then MAFAND news), a longer budget, dev evaluated on both criteria.

# %% mystnb={"figure": {"caption": "In the committed run the fair test's four students end within about 0.01 of each other on AfriQA dev, KD highest: no loss separates from the others at this budget (AfriQA dev MRR@10, left; MAFAND held-out bitext retrieval, right; each student saved at its best AfriQA dev step, scored in the table below)."}}
curve_run = chapter["curves"]  # the study declares its final test: read when trained
curve_results = curve_run["dev"]
show_dev_curves(curve_results)

# %%
show_dev_table(curve_results)

# %% [markdown]
# ## Past the curves' budget
#
# The learning rate decays linearly to zero at `max_steps`, so a curve that flattens at its last steps may only show
# the schedule ending, and a longer curve is a new run, not a continuation: the same options with a larger
# `max_steps` (parameter `long_curves`). Dev only: these students are not read on test. Below, each longer run
# next to the run of the same variant above.

# %% mystnb={"figure": {"caption": "Each variant at two budgets (solid: the shorter run, dashed: the longer one; one colour per method). The learning rate decays to zero at the end of each run, so the longer run is a new run, not a continuation; the sentence below says where dev was still rising."}}
long_results = chapter["long_curves"]["dev"]
learning_curves({f"{name} ({r['training']['steps']:,} steps)": r for name in long_results
                 for r in (curve_results.get(name), long_results[name]) if r is not None})
plt.show()

# %%
Markdown(longer_budget_sentence(curve_results, long_results) + "\n\n" + budget_sentence(long_results))

# %% [markdown]
# ## The test split, read once
#
# KD and the OT and OT + KD variants chosen on dev above, at the dev study's budget, with both readouts, next to
# the teacher's floor (L query) and ceiling (human English translation) in the same readout. Paired randomisation
# against the KD student of the same readout, Holm-corrected over languages.

# %%
tested = chapter["fair"]["test"]
show_final_test(tested, fair["readouts"], "test MRR@10")

# %% [markdown]
# ## At the learning curves' budget: the test split
#
# The students trained to the end of the learning curves (more bitext, the longest budget here), each at its best
# AfriQA dev checkpoint, read once on test with both readouts; paired randomisation against KD, Holm over
# languages.

# %%
show_final_test(curve_run["test"], curves["readouts"], "test MRR@10 at the learning curves' budget")

# %% [markdown]
# ## The re-answer on every language
#
# The learning curves' students trained jointly on all the languages of the parameters, with the curves'
# options, for a fixed budget (the parameters' `max_steps`), each kept at its best AfriQA dev checkpoint (over the
# languages that have dev gold: those of the dev table below; the others count on test only), then read once on
# test with both readouts; paired randomisation against KD, Holm over languages.
# With more languages in the same number of steps, each language sees fewer pairs than in the curves.
# A variant `name-seed<k>` is another seed of `name` (its bitext sample and initial order change too): the test
# table shows each student's mean over its seeds and a second table each seed's macro; the paired test reads each
# query's reciprocal rank averaged over the seeds, so the spread between seeds shows in the seed table, not in
# the p-values.

# %% mystnb={"figure": {"caption": "The re-answer on every language (1,000 steps): in the committed run the four students again lie within 0.01 of each other on dev, KD highest (seeds of a variant share its colour and differ by line style)."}}
rerun_run = chapter["rerun"]
rerun_results = rerun_run["dev"]
show_dev_curves(rerun_results)

# %%
show_dev_table(rerun_results)

# %%
show_final_test(rerun_run["test"], rerun["readouts"],
                "test MRR@10, every language (students: mean over their seeds)")

# %% [markdown]
# ## The re-answer at the longer budget
#
# The learning curves past 1,000 steps ask for a longer budget than the re-answer above. Here students of the
# re-answer (those of `long_rerun["variants"]`, options chosen on dev) are trained on all the languages again, with
# the same options and the long curves' `max_steps` (parameter `long_rerun`), each kept at its best AfriQA dev
# checkpoint, then read once on test with the readouts of `long_rerun["readouts"]`; paired randomisation against
# KD, Holm over languages; the seed table shows which seeds each row averages. A study declared `final` (these
# three) reads its test split in every declared readout as soon as each student is trained.
# A student whose checkpoint is gone is read from a replay (`optical.studies.replays.replay_to_best`): its run
# re-trained with the same configuration and seed up to its best dev step, accepted only if it gives back the
# run's dev history (see below).

# %% mystnb={"figure": {"caption": "The English student's answer (2,000 steps, every language, three seeds each): in the committed run OT\u2605 and KD end level on dev, above OT + KD and token-KD; each student is saved at its best AfriQA dev step."}}
long_rerun_run = chapter["long_rerun"]
long_rerun_results = long_rerun_run["dev"]
show_dev_curves(long_rerun_results)

# %%
show_dev_table(long_rerun_results)
display(Markdown(longer_budget_sentence(rerun_results, long_rerun_results)))

# %%
show_final_test(long_rerun_run["test"], long_rerun["readouts"],
                "test MRR@10, every language, at the longer budget")

# %% [markdown]
# The per-language tests (exploratory), the seeds and the provenance of the MaxSim reads made from replayed
# students are in the appendix {doc}`13_audit`; the multilingual students under this protocol have their own
# chapter, {doc}`12_multilingual_fair`.
