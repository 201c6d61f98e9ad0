"""The parameter files: YAML read safely, ``extends`` chains merged, studies compiled into their variants
(:func:`optical.study_spec.compile_studies`) and every training section validated against
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
    from optical.config import DATA_KEYS, config_from_dict

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
    written with ``students`` are expanded (:func:`optical.study_spec.compile_studies`; ``best_of`` rules read the dev
    results under ``root``) and every training section is validated (:func:`check_train_sections`)."""
    from optical.study_spec import compile_studies

    from optical.study_spec import studies_of

    path = Path(path)
    params = compile_studies(expand_studies(_merged_params(path), f"{path.name}: "), f"{path.name}: ", root)
    check_train_sections(params, f"{path.name}: ")
    if isinstance(params.get("statistics"), dict):  # a study without its own tests with the file's
        for key in (k for k in studies_of(params) if "statistics" not in params[k]):
            params[key] = {**params[key], "statistics": params["statistics"]}
    return params


NOT_INHERITED = {"extends", "superseded_by", "label"}
"""Keys of a study section that a study extending it does not take over."""


def expand_studies(params: dict, where: str = "") -> dict:
    """``params`` with each study section (one with ``students``, or one that ``extends`` a study) written in full:
    a study ``extends: other`` starts from that study's section (recursively; :data:`NOT_INHERITED` keys apart) and
    merges its own keys in (:func:`merge_params`: ``train`` key by key); then the ``defaults`` block is merged under
    every study (its ``train`` under each study's ``train``), so a default is written once. The ``defaults`` block
    is removed; raises naming the study on an unknown parent or a cycle."""
    params = dict(params)
    defaults = params.pop("defaults", None) or {}
    expanded: dict[str, dict] = {}

    def resolve(key: str, chain: tuple[str, ...]) -> dict:
        if key in chain:
            raise ValueError(f"{where}{chain[0]}: extends itself through {' -> '.join(chain + (key,))}")
        section = params.get(key)
        if not isinstance(section, dict):
            raise ValueError(f"{where}{chain[-1]}: extends {key!r}, which is no study; studies: "
                             f"{sorted(k for k, v in params.items() if isinstance(v, dict) and 'students' in v)}")
        if key not in expanded:
            own = {k: v for k, v in section.items() if k != "extends"}
            parent = section.get("extends")
            if parent is not None:
                inherited = {k: v for k, v in resolve(parent, chain + (key,)).items() if k not in NOT_INHERITED}
                own = merge_params(inherited, own)
            expanded[key] = own
        return expanded[key]

    out = {}
    for key, section in params.items():
        if isinstance(section, dict) and ("students" in section or "extends" in section):
            out[key] = merge_params(defaults, resolve(key, ()))
        else:
            out[key] = section
    return out


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


NOT_PARAMETERS = {"In", "Out", "get_ipython", "exit", "quit", "open"}
"""Names IPython puts in a notebook's namespace (with every ``_``-prefixed one): never parameters."""


def notebook_defaults(notebook: str | Path) -> dict:
    """The names and default values of the ``parameters`` cell of a jupytext notebook (``notebooks/NN_name.py``);
    raises naming the notebook if it has none or a default is not a literal."""
    import ast

    import jupytext

    for cell in jupytext.read(notebook).cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse(cell.source)
            try:
                return {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                        for t in node.targets if isinstance(t, ast.Name)}
            except ValueError as err:
                raise ValueError(f"{Path(notebook).name}: a parameter's default is not a literal ({err})") from None
    raise ValueError(f"{Path(notebook).name}: no cell tagged 'parameters'")


def chapter_parameters(chapter: str, params: dict) -> dict:
    """What notebook ``chapter`` (``"02_distillation"``) runs with when the book hands it loaded ``params``: its
    ``parameters`` cell's defaults, with the value ``params`` gives for each name it declares."""
    from optical.data.paths import REPO_ROOT

    defaults = notebook_defaults(REPO_ROOT / "notebooks" / f"{chapter}.py")
    return {**defaults, **{k: params[k] for k in defaults if k in params}}


def checked_parameters(namespace: dict, notebook: str | Path) -> dict:
    """The parameters of a notebook run by papermill, checked and typed: a name in ``namespace`` that neither the
    notebook's ``parameters`` cell declares nor ``params/full.yaml`` has as a section (``-f params/full.yaml`` gives
    every section) stops the run naming it and the valid ones (a misspelt ``-p langauges hau``); a value given as
    text where the default is a list, mapping, number or flag (``-p languages '["hau"]'``, ``-p seeds [0]``) is read
    as YAML, and a list may be written as on a command line (``-p languages hau,zul``, ``-p seeds 0``).
    ``notebook``: a path, or a name of ``notebooks/`` (``"02_distillation"``).
    Returns every declared parameter's value."""
    import inspect

    from optical.data.paths import REPO_ROOT

    notebook = Path(notebook) if Path(notebook).suffix else REPO_ROOT / "notebooks" / f"{notebook}.py"
    defaults = notebook_defaults(notebook)
    # a section of the main job's parameters that this notebook does not read (papermill -f params/full.yaml)
    sections = set(_merged_params(REPO_ROOT / "params" / "full.yaml"))
    unknown = sorted(k for k, v in namespace.items() if not k.startswith("_") and k not in NOT_PARAMETERS
                     and k not in defaults and k not in sections and not (inspect.ismodule(v) or callable(v)))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {Path(notebook).stem}; valid: {sorted(defaults)}")
    values = {}
    for name, default in defaults.items():
        value = namespace.get(name, default)
        if isinstance(value, str) and not isinstance(default, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError as err:
                raise ValueError(f"parameter {name}: {value!r} is not YAML ({err})") from None
        if isinstance(default, list) and value is not None and not isinstance(value, list):
            # a list as written on a command line: hau, or hau,zul (each item read as YAML: 0,1 gives numbers)
            value = [yaml.safe_load(item.strip()) for item in value.split(",")] if isinstance(value, str) \
                else [value]
        if default is not None and value is not None and type(value) is not type(default) \
                and not (isinstance(default, float) and isinstance(value, int)):
            raise ValueError(f"parameter {name}: expected {type(default).__name__} like {default!r}, got {value!r}")
        values[name] = value
    return values
