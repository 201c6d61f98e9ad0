"""The parameter files: YAML read safely, ``extends`` chains merged, studies compiled into their variants
(:func:`optical.study.compile_studies`) and every training section validated against
:class:`optical.config.TrainConfig` — once, before anything runs. The runner, the book and a notebook run alone all
load parameters here."""

from __future__ import annotations

from pathlib import Path

import yaml


def merge_params(base: dict, override: dict) -> dict:
    """``override`` merged into ``base``: mappings merge key by key (recursively), anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge_params(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return merged


def check_train_sections(params: dict, where: str = "") -> None:
    """Validate every ``train`` mapping of ``params`` (and each of its sibling ``variants`` or ``losses`` merged
    into it) as a :class:`optical.config.TrainConfig`, so a typo fails before anything runs, naming its place."""
    from optical.config import config_from_dict
    from optical.studies.experiments import DATA_KEYS

    for key, value in params.items():
        if not isinstance(value, dict):
            continue
        if key == "train":
            train = {k: v for k, v in value.items() if k not in DATA_KEYS}
            specs = [s for group in ("variants", "losses") if isinstance(params.get(group), dict)
                     for s in params[group].values()]
            for spec in specs or [{}]:
                try:
                    config_from_dict({**train, **spec})
                except ValueError as err:
                    raise ValueError(f"{where}train: {err}") from None
        else:
            check_train_sections(value, f"{where}{key}.")


def load_params(path: str | Path, root: str | Path = ".") -> dict:
    """The parameters of a YAML file; ``extends: other.yaml`` (relative to the file) reads that file first and
    merges this one into it (:func:`merge_params`), so a file can override ``train.max_steps`` alone. Studies
    written with ``students`` are expanded (:func:`optical.study.compile_studies`; ``best_of`` rules read the dev
    results under ``root``) and every training section is validated (:func:`check_train_sections`)."""
    from optical.study import compile_studies

    path = Path(path)
    params = compile_studies(_merged_params(path), f"{path.name}: ", root)
    check_train_sections(params, f"{path.name}: ")
    return params


def _merged_params(path: Path) -> dict:
    """The YAML mapping of ``path`` merged into the file it ``extends`` (recursively), as written."""
    if not path.is_file():
        raise FileNotFoundError(f"parameter file not found: {path}")
    params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping of parameters")
    if "extends" in params:
        params = merge_params(_merged_params(path.parent / params.pop("extends")), params)
    return params
