"""Choices made on dev (no torch: the report reads them): which evaluation of a run's dev history checkpoint
selection keeps, and which training-free map of a closed-form space dev picks."""

from __future__ import annotations


def best_evaluation(history: list[dict]) -> dict:
    """The evaluation of a dev ``history`` that checkpoint selection keeps: the best selection score
    (``"macro"``), the first on ties (the trainer replaces its best only on a strictly higher score)."""
    if not history:
        raise ValueError("the dev history is empty: the run was not evaluated on dev")
    return max(history, key=lambda h: h["macro"])


def dev_chosen_map(dev: dict[str, dict[str, dict]], size: int | None = None) -> tuple[str, str]:
    """``(size, map)`` with the best macro MRR@10 among a closed-form space's dev reads (``{size: {map: cell}}``),
    among the maps of ``size`` where it is given; the first in order on ties."""
    sizes = [str(size)] if size is not None else list(dev)
    return max(((s, k) for s in sizes for k in dev[s]), key=lambda sk: dev[sk[0]][sk[1]]["macro"]["MRR@10"])


def best_closed_form(result: dict, size: int | None = None) -> dict:
    """The map (and size, unless ``size`` is given) of one space of
    :func:`optical.studies.closed_form.closed_form_maps` with the best dev macro MRR@10 (chosen on dev only; the
    ``identity`` map counts: it is the zero-shot encoder), with its test macro and the zero-shot (``identity``) test
    macro."""
    dev = result["reads"]["dev"]
    if size is not None and str(size) not in dev:
        raise KeyError(f"closed-form space {result['space']}: no maps at {size} pairs; sizes: {list(dev)}")
    size, kind = dev_chosen_map(dev, size)
    test = result["reads"]["test"]
    return {"space": result["space"], "map": kind, "size": int(size), "dev": dev[size][kind]["macro"]["MRR@10"],
            "test": test[size][kind]["macro"]["MRR@10"], "zero_shot": test[size]["identity"]["macro"]["MRR@10"]}
