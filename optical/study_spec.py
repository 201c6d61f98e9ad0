"""Studies as typed data: named variants defined once, students = variant × seeds, and the dev rule a choice
follows.

A parameter file declares every variant once under ``variants`` (a variant may ``extends`` another and change
some options). A study section lists its ``students`` by variant name, with the study's ``seeds`` (a list) or its
own (``{name: [0, 1]}``); :func:`compile_studies` expands it into the ``variants`` mapping the runners read, one
entry per student: ``name`` for the study's base seed, ``name-seed<k>`` for seed ``k``. A study may state
``chosen_on_dev``: which of its students was chosen by a rule (the best variant named ``among…`` of dev study
``study``, by macro dev MRR@10), checked against that study's stored results by :func:`check_choices`. A student
may also be the rule itself, ``{best_of: {study: dev, among: ot}}``: :func:`compile_studies` resolves it from the
dev study's stored results (:func:`dev_winners`) and records it under ``chosen_on_dev``; while the dev study has no
results the study is compiled without it and keeps the rule under ``pending``, resolved when the study runs
(:func:`resolve_pending`: a dev study and the studies choosing from it run in one go). A study that is not itself
final may name the students it reads on test, by name or by rule, under ``tested`` (:func:`tested_students`):
what goes to test is the study's decision, not a notebook's. A student may also be the combination rule
``{combine: {base, among, name}}``: once every other student of the study named ``among…`` has a dev result,
:func:`combination` gives student ``name`` the options of ``base`` with the change of each student that beat
``base`` on dev (where two change the same option, the better one's value), recorded under ``combined``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from optical.layout import Layout

STUDY_KEYS = {"languages", "train", "students", "seeds", "readouts", "final", "teacher", "statistics",
              "chosen_on_dev", "tested", "superseded_by", "role", "label"}
ROLES = {"english": "a final reading of the English student (chapter 5; audited per language in its appendix)",
         "low_data": "a bitext size of the low-data regime (chapter 8)"}
"""A study's ``role``: where the book reads it by role instead of by name (a study without one is read by the
chapter that names it); ``label`` says in words what its students are."""
RULE_KEYS = {"study", "among"}
COMBINE_KEYS = {"base", "among", "name"}
"""The keys a study section written with ``students`` may hold."""


@dataclass(frozen=True)
class Study:
    """One compiled study of loaded parameters (:func:`study`), typed: what trains (``train``: the study's shared
    values; ``students``: each student's options over them), on what (``dataset``, ``languages``, ``teacher``),
    what is read on test (``final``, ``readouts``, ``statistics``) and its place in the book (``role``, ``label``);
    ``pending``: rules still waiting for dev results."""

    key: str
    dataset: str
    teacher: str
    languages: tuple[str, ...]
    train: Mapping
    students: Mapping[str, Mapping]
    final: bool = False
    readouts: tuple[str, ...] = ("pooled",)
    statistics: Mapping = field(default_factory=dict)
    role: str | None = None
    label: str | None = None
    pending: tuple = ()

    def train_params(self, student: str, teacher: bool = True) -> dict:
        """What ``student`` is trained with: the study's ``train``, the student's options over it, the bitext
        version written out (default: the current one) and, unless ``teacher=False``, the study's teacher."""
        from optical.data.schema import with_bitext_version

        if student not in self.students:
            raise ValueError(f"{self.key}: no student {student!r}; students: {sorted(self.students)}")
        return with_bitext_version({**self.train, **self.students[student],
                                    **({"teacher": self.teacher} if teacher else {})})

    def config(self, student: str):
        """``student``'s :class:`optical.config.TrainConfig` (its bitext keys, ``DATA_KEYS``, left out)."""
        from optical.config import TRAIN_KEYS, config_from_dict

        return config_from_dict({k: v for k, v in self.train_params(student).items() if k in TRAIN_KEYS})

    @property
    def seeds(self) -> dict[str, list[str]]:
        """Each system's students: ``name`` and its ``name-seed<k>`` (:func:`seed_groups`)."""
        return seed_groups(list(self.students))


def study(params: Mapping, key: str) -> Study:
    """Study ``key`` of loaded parameters (:func:`optical.params.load_params`) as a :class:`Study`."""
    if key not in studies_of(params):
        raise KeyError(f"no study {key!r}; studies: {studies_of(params)}")
    s = params[key]
    return Study(key=key, dataset=params.get("dataset", "afriqa"), teacher=s.get("teacher", params.get("teacher")),
                 languages=tuple(s.get("languages", params.get("languages", ()))), train=s["train"],
                 students=s["variants"],
                 final=bool(s.get("final", False)), readouts=tuple(s.get("readouts", ("pooled",))),
                 statistics=s.get("statistics") or params.get("statistics") or {}, role=s.get("role"),
                 label=s.get("label"), pending=tuple(s.get("pending", ())))


def studies_of(params: Mapping) -> list[str]:
    """The keys of the studies in loaded parameters (sections with ``variants`` and ``train``), in file order."""
    return [k for k, v in params.items() if isinstance(v, Mapping) and "variants" in v and "train" in v]


def seed_groups(variants: list[str]) -> dict[str, list[str]]:
    """Variants by the system they are seeds of: ``name-seed<k>`` is a seed of ``name`` (whose own run has the
    seed of its config), in the order given."""
    groups: dict[str, list[str]] = {}
    for variant in variants:
        match = re.fullmatch(r"(.+)-seed\d+", variant)
        groups.setdefault(match.group(1) if match else variant, []).append(variant)
    return groups


def in_family(name: str, prefix: str) -> bool:
    """Whether variant ``name`` belongs to the family ``prefix``: it starts with it, and ``ot`` does not match the
    ``ot+kd…`` combinations (``ot+kd`` does)."""
    return name.startswith(prefix) and ("+" in prefix or "+" not in name)


def resolve_variants(variants: Mapping, where: str = "") -> dict[str, dict]:
    """Every variant's options with its ``extends`` chain applied (a variant's own options win); raises naming
    the variant on an unknown parent or a cycle."""
    resolved: dict[str, dict] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> dict:
        if name in chain:
            raise ValueError(f"{where}variants.{name}: extends itself through {' -> '.join(chain + (name,))}")
        if name not in variants:
            raise ValueError(f"{where}variants.{chain[-1]}: extends unknown variant {name!r}; defined: "
                             f"{sorted(variants)}")
        if name not in resolved:
            spec = dict(variants[name] or {})
            parent = spec.pop("extends", None)
            resolved[name] = {**resolve(parent, chain + (name,)), **spec} if parent else spec
        return resolved[name]

    for name in variants:
        resolve(name, ())
    return resolved


def study_students(section: Mapping, registry: Mapping[str, dict], where: str,
                   chosen: Mapping[int, str] | None = None) -> dict[str, dict]:
    """The ``variants`` mapping of one study written with ``students`` (see the module docstring); ``chosen`` gives
    the variant a ``best_of`` rule at position ``i`` resolved to (a rule missing from it is left out)."""
    base_seed = (section.get("train") or {}).get("seed", 0)
    seeds = list(section.get("seeds", [base_seed]))
    out: dict[str, dict] = {}
    for i, entry in enumerate(section["students"]):
        if isinstance(entry, Mapping) and set(entry) == {"combine"}:
            continue  # added by compile_studies once its candidates have run (combination)
        if isinstance(entry, Mapping) and set(entry) == {"best_of"}:
            if i not in (chosen or {}):
                continue
            name, own_seeds = chosen[i], seeds
        elif isinstance(entry, Mapping) and len(entry) == 1:
            (name, own_seeds), = entry.items()
        elif isinstance(entry, str):
            name, own_seeds = entry, seeds
        else:
            raise ValueError(f"{where}students[{i}]: write a variant name or {{name: [seeds]}}, got {entry!r}")
        if name not in registry:
            raise ValueError(f"{where}students[{i}]: unknown variant {name!r}; defined under variants: "
                             f"{sorted(registry)}")
        for seed in own_seeds:
            if not isinstance(seed, int):
                raise ValueError(f"{where}students[{i}]: seed {seed!r} is not an integer")
            student = name if seed == base_seed else f"{name}-seed{seed}"
            if student in out:
                raise ValueError(f"{where}students[{i}]: student {student!r} listed twice")
            out[student] = dict(registry[name]) if seed == base_seed else {**registry[name], "seed": seed}
    return out


def compile_studies(params: dict, where: str = "", root: str | Path = ".") -> dict:
    """``params`` with every study written with ``students`` expanded into its ``variants`` mapping and the
    top-level ``variants`` registry resolved and removed; a study still written with ``variants`` is kept.
    ``best_of`` rules read the dev results under ``root``/results (a dev study is compiled before the studies
    that choose from it, wherever it is written)."""
    registry = resolve_variants(params.get("variants") or {}, where)
    out = {k: v for k, v in params.items() if k != "variants"}
    for key in _dependency_order({k: _rules_of(v) for k, v in params.items()
                                  if isinstance(v, Mapping) and "students" in v}, where):
        section = params[key]
        place = f"{where}{key}."
        if "variants" in section:
            raise ValueError(f"{place}: write its students or its variants, not both")
        if unknown := sorted(set(section) - STUDY_KEYS):
            raise ValueError(f"{place}: unknown keys {unknown}; a study holds {sorted(STUDY_KEYS)}")
        if section.get("role", "english") not in ROLES:
            raise ValueError(f"{place}role: {section['role']!r} is no role; roles: {ROLES}")
        compiled = {k: v for k, v in section.items() if k not in ("students", "seeds", "chosen_on_dev")}
        choices = dict(section.get("chosen_on_dev") or {})
        chosen, pending, extra = {}, [], {}
        base_seed = (section.get("train") or {}).get("seed", 0)
        for i, entry in enumerate(section["students"]):
            if isinstance(entry, Mapping) and set(entry) == {"best_of"}:
                rule = _rule(entry["best_of"], f"{place}students[{i}].best_of")
                winners = dev_winners(out.get(rule["study"], {}), rule, root)[1]
                if winners:
                    chosen[i] = winners[0]
                    choices[winners[0]] = rule
                    # the options the dev study trained it with (a combined student is in no registry)
                    extra[winners[0]] = _without_seed(out[rule["study"]]["variants"][winners[0]])
                else:
                    pending.append({"rule": rule, "seeds": list(section.get("seeds", [base_seed])),
                                    "base_seed": base_seed})
        for i, entry in enumerate(section.get("tested") or []):
            if not isinstance(entry, str):
                _rule(entry.get("best_of") if isinstance(entry, Mapping) else entry, f"{place}tested[{i}].best_of")
        compiled["variants"] = study_students(section, {**registry, **extra}, place, chosen)
        for i, entry in enumerate(section["students"]):
            if isinstance(entry, Mapping) and set(entry) == {"combine"}:
                rule = _combine_rule(entry["combine"], compiled["variants"], f"{place}students[{i}].combine")
                pending.append({"combine": rule, "seeds": list(section.get("seeds", [base_seed])),
                                "base_seed": base_seed})
        for student, rule in choices.items():
            if student not in compiled["variants"]:
                raise ValueError(f"{place}chosen_on_dev: {student!r} is not a student of this study")
            _rule(rule, f"{place}chosen_on_dev.{student}")
        if choices:
            compiled["chosen_on_dev"] = choices
        if pending:
            compiled["pending"] = pending
        out[key] = _combine(compiled, key, root)
    return out


def _rules_of(section: Mapping) -> set[str]:
    """The dev studies the rules of a study section name (``best_of`` in ``students`` or ``tested``, written or
    compiled into ``chosen_on_dev`` and ``pending``)."""
    entries = [*(section.get("students") or []), *(section.get("tested") or [])]
    rules = [e["best_of"] for e in entries if isinstance(e, Mapping) and isinstance(e.get("best_of"), Mapping)]
    rules += list((section.get("chosen_on_dev") or {}).values())
    rules += [item["rule"] for item in section.get("pending") or [] if "rule" in item]
    return {r["study"] for r in rules if isinstance(r, Mapping) and "study" in r}


def _dependency_order(needs: Mapping[str, set[str]], where: str = "") -> list[str]:
    """The keys of ``needs`` with each after the studies it needs (file order otherwise); raises on a cycle."""
    order: list[str] = []

    def visit(key: str, chain: tuple[str, ...]) -> None:
        if key in chain:
            raise ValueError(f"{where}{key}: its dev rules need it through {' -> '.join(chain + (key,))}")
        if key not in order:
            for other in needs[key]:
                if other in needs and other != key:
                    visit(other, chain + (key,))
            order.append(key)

    for key in needs:
        visit(key, ())
    return order


def declared_students(section: Mapping) -> list[str]:
    """The students a compiled study declares: its variants and the combined students still waiting for theirs."""
    return [*section["variants"], *(item["combine"]["name"] for item in section.get("pending") or ()
                                   if "combine" in item)]


def combination_lines(section: Mapping) -> list[str]:
    """Sentences on each combination rule of a compiled study: what it waits for, or what it combined."""
    lines = []
    for item in section.get("pending") or ():
        if "combine" in item:
            rule = item["combine"]
            lines.append(f"`{rule['name']}`: the options of `{rule['base']}` with every change of a `{rule['among']}` "
                         f"student that beat it on dev; declared once they have all run.")
    for name, record in (section.get("combined") or {}).items():
        changes = ", ".join(f"`{n}`" for n in record["from"]) or "none"
        same = f"; that is `{record['same_as']}` itself, already trained" if record.get("same_as") else ""
        lines.append(f"`{name}`: `{record['base']}` with the changes of {changes} (each beat it on dev; where two "
                     f"change one option, the better one's value){same}.")
    return lines


def studies_with_role(params: Mapping, role: str) -> list[Study]:
    """The studies of loaded parameters with ``role`` (:data:`ROLES`), in file order."""
    return [study(params, k) for k in studies_of(params) if params[k].get("role") == role]


def study_order(params: Mapping) -> list[str]:
    """The studies of loaded parameters in the order they can run: each after the dev studies its rules read."""
    return _dependency_order({k: _rules_of(params[k]) for k in studies_of(params)})


def _combine_rule(rule: object, variants: Mapping, where: str) -> dict:
    """A combination rule ``{base, among, name}``, or a ValueError naming the place."""
    if not isinstance(rule, Mapping) or set(rule) != COMBINE_KEYS:
        raise ValueError(f"{where}: give the base student, the prefix of the students whose changes are combined "
                         f"and the new student's name, e.g. {{base: kd-frozen, among: kd, name: kd-combined}}; "
                         f"got {rule!r}")
    if rule["base"] not in variants:
        raise ValueError(f"{where}: base {rule['base']!r} is not a student of the study; students: {sorted(variants)}")
    if rule["name"] in variants:
        raise ValueError(f"{where}: name {rule['name']!r} is already a student of the study")
    return dict(rule)


def _options(spec: Mapping) -> dict:
    """Every leaf option of the training configuration ``spec`` gives (defaults filled in), by leaf name."""
    from optical.config import LEAVES, config_from_dict

    config = config_from_dict(spec)
    out = {}
    for leaf, (path, _) in LEAVES.items():
        holder = config
        for part in path:
            holder = getattr(holder, part)
        out[leaf] = getattr(holder, leaf)
    return out


def combination(variants: Mapping[str, dict], results: Mapping[str, dict],
                rule: Mapping) -> tuple[dict, list[str]] | None:
    """The options of the combined student of ``rule`` and the students whose change it takes, from the dev
    ``results`` of a study's ``variants``: ``base``'s options with the change (the options that differ from
    ``base``'s) of every student named ``among…`` whose dev seed mean beats ``base``'s; where two change the same
    option, the better student's value. ``None`` while a candidate (or ``base``) has no dev result."""
    candidates = [name for name in seed_groups([v for v in variants if v != rule["name"]])
                  if in_family(name, rule["among"]) or name == rule["base"]]
    present = {k: r for k, r in results.items() if "training" in r and k in variants}
    if any(name not in present for name in candidates):
        return None
    scores = {name: score for name, score in dev_seed_means(present).items() if name in candidates}
    base = _options(_without_seed(variants[rule["base"]]))
    better = sorted((name for name in candidates if scores[name] > scores[rule["base"]]), key=scores.get)
    spec = dict(_without_seed(variants[rule["base"]]))
    for name in better:  # ascending: the better student's value wins a shared option
        spec.update({k: v for k, v in _options(_without_seed(variants[name])).items() if base[k] != v})
    return spec, better[::-1]


def _without_seed(spec: Mapping) -> dict:
    return {k: v for k, v in spec.items() if k != "seed"}


def _combine(section: dict, key: str, root: str | Path) -> dict:
    """Study ``section`` with each combination rule waiting under ``pending`` resolved where its candidates have dev
    results (:func:`combination`): the combined student at every seed of the rule, recorded under ``combined``."""
    if not any("combine" in item for item in section.get("pending", ())):
        return section
    from optical.io import read_json_folder

    results = read_json_folder(Layout(root).study(key)) if Layout(root).study(key).is_dir() else {}
    variants, combined, pending = dict(section["variants"]), dict(section.get("combined") or {}), []
    for item in section["pending"]:
        found = combination(variants, results, item["combine"]) if "combine" in item else None
        if found is None:
            pending.append(item)
            continue
        (spec, better), name = found, item["combine"]["name"]
        record = {**{k: item["combine"][k] for k in ("base", "among")}, "from": better}
        same = [other for other, o in variants.items() if "seed" not in o and _options(o) == _options(spec)]
        if same:  # the combination is a student already trained (e.g. one change helped, or none)
            combined[name] = {**record, "same_as": same[0]}
            continue
        for seed in item["seeds"]:
            variants[name if seed == item["base_seed"] else f"{name}-seed{seed}"] = \
                spec if seed == item["base_seed"] else {**spec, "seed": seed}
        combined[name] = record
    out = {k: v for k, v in section.items() if k not in ("pending", "combined")}
    return {**out, "variants": variants, **({"combined": combined} if combined else {}),
            **({"pending": pending} if pending else {})}


def _rule(rule: object, where: str) -> dict:
    """A dev rule ``{study, among}``, or a ValueError naming the place."""
    if not isinstance(rule, Mapping) or set(rule) != RULE_KEYS:
        raise ValueError(f"{where}: give the dev study and the prefix of the variants it is chosen among, "
                         f"e.g. {{study: fair, among: ot}}; got {rule!r}")
    return dict(rule)


def _winner(params: dict, rule: Mapping, root: str | Path, key: str) -> str:
    """The variant a rule names now (first winner in the dev study's order), or a ValueError saying what to run."""
    winners = dev_winners(params.get(rule["study"], {}), rule, root)[1]
    if not winners:
        raise ValueError(f"study {key!r} cannot run yet: the best {rule['among']} variant of {rule['study']} is not "
                         f"known (not every candidate has a dev result); run that dev study first")
    return winners[0]


def resolve_pending(params: dict, key: str, root: str | Path = ".") -> dict:
    """Study ``key`` with every ``best_of`` rule that waited for its dev study (``pending``) resolved from the dev
    study's stored results: the winner with the options the dev study trained it with, at each of the rule's seeds,
    recorded under ``chosen_on_dev``; raises naming the rule while its dev study has no results. A combination rule
    of the study itself (:func:`combination`) is resolved once the students it combines have run, else it stays
    under ``pending``."""
    s = _combine(params[key], key, root)
    if not any("rule" in item for item in s.get("pending", ())):
        return s
    variants, choices = dict(s["variants"]), dict(s.get("chosen_on_dev") or {})
    combinations = [item for item in s["pending"] if "combine" in item]
    for item in (item for item in s["pending"] if "rule" in item):
        name = _winner(params, item["rule"], root, key)
        spec = {k: v for k, v in params[item["rule"]["study"]]["variants"][name].items() if k != "seed"}
        for seed in item["seeds"]:
            variants[name if seed == item["base_seed"] else f"{name}-seed{seed}"] = \
                spec if seed == item["base_seed"] else {**spec, "seed": seed}
        choices[name] = dict(item["rule"])
    return {**{k: v for k, v in s.items() if k != "pending"}, "variants": variants, "chosen_on_dev": choices,
            **({"pending": combinations} if combinations else {})}


def tested_students(params: dict, key: str, root: str | Path = ".") -> list[str]:
    """The students study ``key`` reads on test (``tested``: names, or ``{best_of: {study, among}}`` rules resolved
    from the stored dev results now), in order; a name must be a student of the study."""
    s = params[key]
    out = []
    for i, entry in enumerate(s.get("tested") or []):
        name = entry if isinstance(entry, str) else _winner(params, _rule(entry.get("best_of"),
                                                                          f"{key}.tested[{i}].best_of"), root, key)
        if name not in s["variants"]:
            raise ValueError(f"{key}.tested[{i}]: {name!r} is not a student of the study; students: "
                             f"{sorted(s['variants'])}")
        out.append(name)
    return out


def dev_seed_means(results: dict[str, dict]) -> dict[str, float]:
    """Best macro dev MRR@10 of each variant of a dev study, mean over its seeds (:func:`seed_groups`), in the
    order given."""
    return {name: sum(results[m]["training"]["best_dev_macro_mrr10"] for m in members) / len(members)
            for name, members in seed_groups(list(results)).items()}


def twin_scores(results: dict[str, dict], suffix: str = "-frozen") -> dict[str, tuple[float, float]]:
    """``{variant: (its dev seed mean, its twin's)}`` for each variant of a dev study whose twin
    ``<variant><suffix>`` (e.g. frozen word embeddings) ran too (:func:`dev_seed_means`)."""
    score = dev_seed_means(results)
    return {name: (value, score[name + suffix]) for name, value in score.items() if name + suffix in score}


def dev_winners(dev_section: Mapping, rule: Mapping, root: str | Path = ".") -> tuple[float | None, list[str]]:
    """The best macro dev MRR@10 among the variants of family ``rule["among"]`` in the stored results of dev study
    ``rule["study"]`` (mean over each variant's seeds; only the study's declared students when its section is
    given) and the variants reaching it, in the study's order (a tie, e.g. a solver run longer to the same result,
    counts as a best); ``(None, [])`` while a declared candidate of the family has no result yet."""
    from optical.io import read_json_folder

    if any("combine" in item for item in dev_section.get("pending", ())):
        return None, []  # a combined candidate is still to be declared
    results = {k: r for k, r in read_json_folder(Layout(root).study(rule["study"])).items()
               if "training" in r and ("variants" not in dev_section or k in dev_section["variants"])}
    if any(in_family(name, rule["among"]) and name not in results for name in dev_section.get("variants", {})):
        return None, []  # a declared candidate has not run yet: no choice is made on part of the study
    order = list(dev_section.get("variants", sorted(results)))
    results = {k: results[k] for k in sorted(results, key=order.index)}  # ties go to the first in the study
    scores = {name: score for name, score in dev_seed_means(results).items() if in_family(name, rule["among"])}
    if not scores:
        return None, []
    best = max(scores.values())
    return best, [name for name, score in scores.items() if abs(score - best) < 1e-12]


def check_choices(params: dict, key: str, root: str | Path = ".") -> list[str]:
    """Sentences confirming each ``chosen_on_dev`` rule of study ``key`` against the dev study's stored results:
    the student must be a best variant among those named ``among…`` (``ot`` excludes the ``ot+kd…`` mixes), by best
    macro dev MRR@10 averaged over the variant's seeds (a tie, e.g. a solver run longer to the same result, counts
    as a best). Raises naming the student and the dev winners when it is not; a rule whose dev study has no results
    yet is reported as unchecked."""
    lines = []
    for student, rule in (params[key].get("chosen_on_dev") or {}).items():
        best, winners = dev_winners(params.get(rule["study"], {}), rule, root)
        if not winners:
            lines.append(f"{student}: not checked ({rule['study']} has not run all its candidates yet)")
            continue
        prefix = rule["among"]
        if student not in winners:
            raise ValueError(f"{key}.chosen_on_dev: {student!r} is not the dev choice; the best {prefix} variant(s) "
                             f"of {rule['study']} on dev: {winners}")
        ties = [w for w in winners if w != student]
        lines.append(f"`{student}`: the best `{prefix}` variant of the `{rule['study']}` dev study (macro dev MRR@10 "
                     f"{best:.3f}, mean over its seeds" + (f"; tied with {', '.join(ties)})" if ties else ")"))
    return lines
