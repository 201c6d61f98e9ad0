"""One runner for a study of the parameters: train its students (selected on dev) and, for a study of final
students, read the test split in every readout it declares (:func:`optical.studies.experiments.final_test`, with
the claim's macro test against KD). ``optical run`` and the notebooks call it; what goes to test is the study's."""

from __future__ import annotations

from pathlib import Path

from optical.studies.experiments import dev_study, final_test


def studies_of(params: dict) -> list[str]:
    """The keys of the studies in ``params`` (sections with ``variants`` and ``train``), in file order."""
    return [k for k, v in params.items() if isinstance(v, dict) and "variants" in v and "train" in v]


def run_study(params: dict, key: str, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """Study ``key``: ``{"dev": its students' dev results, "test": its test reads (empty unless final)}``."""
    if key not in studies_of(params):
        raise ValueError(f"no study {key!r} in the parameters; studies: {studies_of(params)}")
    s = params[key]
    if s.get("unresolved"):
        raise ValueError(f"study {key!r} cannot run yet: {'; '.join(s['unresolved'])}; run that dev study first")
    dev = dev_study(params, key, root, fresh)
    test = final_test(params, key, list(s["variants"]), tuple(s["readouts"]), root, fresh) if s.get("final") else {}
    return {"dev": dev, "test": test}
