"""optical: OT distillation for zero-shot cross-lingual retrieval (OPTICAL, Huang et al., WSDM 2023).

The public face, for distilling and evaluating a student on your own bitext::

    import optical
    bitext = [optical.Bitext("hau", ["Ina son ruwa."], ["I want water."])]
    run = optical.train(optical.TrainConfig(loss="ot", max_steps=10), bitext, "runs/student")
    optical.evaluate(str(run.output_dir / "student"), "afriqa", ["hau"])

Names are imported on first use, so ``import optical`` stays light (the results-reading path needs no torch).
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "TrainConfig": "optical.config",  # every training choice, typed and validated
    "config_from_dict": "optical.config",  # a TrainConfig from the flat or nested keys of a parameter file
    "Bitext": "optical.data.schema",  # aligned (L sentence, English translation) pairs of one language
    "train": "optical.train",  # distil a student query encoder; saves it with its card
    "evaluate": "optical.eval.system",  # retrieval metrics per language (and per query) of a system or student
    "load_params": "optical.params",  # a parameter file (``extends`` resolved, studies compiled, every train checked)
    "study": "optical.study_spec",  # one study of loaded parameters, typed (students, configs, readouts, role)
    "Study": "optical.study_spec",
    "run_study": "optical.studies.runner",  # one study of loaded parameters: trains what the store lacks, reads test
    "run_all": "optical.studies.chapters",  # every chapter's studies and analyses, then every other study (optical run)
    "read_study": "optical.report.conclusions",  # a final study's stored test reads against KD (reads only)
    "macro_comparison": "optical.eval.macro",  # the claim's test: macro difference, CI over queries and seeds
    "describe": "optical.eval.macro",  # a comparison's two-part verdict in words (direction, margin)
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'optical' has no attribute {name!r}")
