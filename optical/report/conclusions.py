"""The conclusions chapter, written from the stored results JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from optical.eval.macro import describe
from optical.io import read_json, read_json_folder
from optical.layout import Layout
from optical.report.abstract import abstract_rows, arm_sentence, equal_budget_sentence
from optical.report.labels import alias, legend_markdown
from optical.report.summary import (against_kd, against_maps_sentence, closed_form_sentence, fair_test_answer,
                                    on_l_queries)
from optical.study_spec import studies_with_role


def declared_readings(params: Mapping) -> tuple[dict[str, str | None], list[str]]:
    """The final studies the parameters declare (read on test), in their order, each with the study that supersedes
    it (``superseded_by``: a longer budget or more languages; ``None`` when none does), and the low-data ones
    (``role: low_data``) apart, as :func:`conclusions` takes them."""
    low_data = [s.key for s in studies_with_role(params, "low_data")]
    final = {k: v.get("superseded_by") for k, v in params.items() if isinstance(v, Mapping) and v.get("final")}
    return {k: v for k, v in final.items() if k not in low_data}, low_data


def chapter(params: Mapping, root: str | Path = ".") -> str:
    """The conclusions chapter for loaded parameters (:func:`optical.params.load_params`): what the main job's
    build shows, and what the notebook rendered alone shows."""
    final, low_data = declared_readings(params)
    return conclusions(Layout(root).results, params.get("abstract") or [], final, low_data)


def conclusions(results_root: str | Path, arms: Sequence[Mapping],
                final_studies: Mapping[str, str | None] | None = None, low_data: Sequence[str] = ()) -> str:
    """Markdown, one page: the answer per arm of the abstract (``arms``: the parameters' ``abstract`` section), every
    current final reading of ``final_studies`` (``{study: the study superseding it, or None}``) in one table
    (:func:`final_reading_rows`), the training-free maps and little bitext (the declared ``low_data`` studies).
    Superseded readings stay in their chapters; the first comparison in its appendix chapters."""
    root = Path(results_root)
    answers = [" ".join(filter(None, [arm_sentence(row), equal_budget_sentence(root, row)]))
               for row in abstract_rows(root, arms)]
    parts = ["## The answer",
             "\n".join(f"* {a}" for a in answers) or "No arm of the abstract has been read on test yet."]
    if rows := final_reading_rows(root, final_studies or {}):
        parts += ["## Every final reading",
                  "Each student against its study's dev-chosen KD, test macro MRR@10 (seed means); the verdict's "
                  "direction comes from the 95% CI, its margin from the 90% one ({ref}`verdicts`).",
                  final_readings_markdown(rows)]
    parts += _closed_form_section(root)
    parts += _low_data_section(root, low_data)
    return "\n\n".join(p for p in parts if p)


def final_reading_rows(root: Path, studies: Mapping[str, str | None]) -> list[dict]:
    """One row per student compared with KD in each final study's test reads, in the order of ``studies``: study,
    languages, student, readout, seeds (its and KD's), both scores and the macro test (``None`` where none ran). A
    study superseded by another (``studies[key]``) keeps only the students its successor did not read again."""
    rows = []
    for key, successor in studies.items():
        tested = read_json_folder(root / key / "test")
        again = set(read_json_folder(root / successor / "test")) if successor else set()
        for r in against_kd(tested, ["pooled", "maxsim"]):
            if f"{r['name']}-{r['readout']}" in again:
                continue
            rows.append({"study": key, "languages": len(tested[f"{r['kd_name']}-{r['readout']}"]["languages"]),
                         "student": r["name"], "kd": r["kd_name"], "readout": r["readout"], "seeds": r["seeds"],
                         "kd_seeds": r["kd_seeds"], "score": r["score"], "kd_score": r["kd"], "test": r["macro"]})
    return rows


def read_study(study: str, root: str | Path = ".") -> list[dict]:
    """The stored test reads of a final study against its KD student, one row per student and readout
    (:func:`final_reading_rows`; the macro test under ``"test"``): reading only, nothing is trained."""
    rows = final_reading_rows(Layout(root).results, {study: None})
    if not rows:
        raise FileNotFoundError(f"{Layout(root).tested(study)}: no test read against KD stored; "
                                f"run `optical run --params params/full.yaml --study {study}`")
    return rows


def final_readings_markdown(rows: list[dict]) -> str:
    """The rows of :func:`final_reading_rows` as one table, every alias defined below it."""
    lines = ["| study | student | readout | seeds (KD) | macro (KD) | Δ [95% CI] | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["test"]
        delta = (f"{t['delta']:+.3f} [{t['ci'][0]:+.3f}, {t['ci'][1]:+.3f}]" if t
                 else f"{r['score'] - r['kd_score']:+.3f}")
        lines.append(f"| `{r['study']}` ({r['languages']} lang.) | {alias(r['student'])} | {r['readout']} | "
                     f"{r['seeds']} ({r['kd_seeds']}) | {r['score']:.3f} ({r['kd_score']:.3f}) | {delta} | "
                     f"{describe(t) if t else 'no macro test'} |")
    names = list(dict.fromkeys([n for r in rows for n in (r["kd"], r["student"])]))
    return "\n".join(lines) + "\n\n" + legend_markdown(names)


def _closed_form_section(root: Path) -> list[str]:
    """The training-free maps (`11_closed_form`): the dev-chosen map per space against zero-shot and the students."""
    results = on_l_queries(read_json_folder(root / "closed_form"))
    if not results:
        return []
    students = {name.removesuffix("-pooled"): r for name, r in read_json_folder(root / "long_rerun" / "test").items()
                if name.endswith("-pooled") and name.split("-")[0] in ("kd", "ot")}
    against = root / "closed_form" / "against" / "students.json"
    return ["## Training-free maps", closed_form_sentence(results, students),
            *([against_maps_sentence(read_json(against))] if against.is_file() else [])]


def _low_data_section(root: Path, studies: Sequence[str]) -> list[str]:
    """The low-data regime (`14_low_data`): each bitext size of the declared ``studies`` read on test, against KD,
    student by student; a results folder no parameter declares (a study still running) is left out."""
    readings = []
    for folder in (root / key / "test" for key in studies):
        final = {k: v for k, v in read_json_folder(folder).items() if v["params"].get("train")}
        if final:
            first = next(iter(final.values()))["params"]
            train = first["train"]
            readings.append((train.get("student", first["teacher"]), train["max_pairs"], train["epochs"], final))
    parts = ["## Little bitext (test at the smallest size, dev at every size)"] if readings else []
    for student, pairs, epochs, final in sorted(readings, key=lambda r: r[:2]):
        parts += [f"Student {student}, the first {pairs:,} bitext pairs per language for {epochs} epochs, "
                  "the best dev checkpoint, test read once:", fair_test_answer(final, _readouts(final))]
    return parts + _low_data_dev(root, studies) if parts else parts


def _low_data_dev(root: Path, studies: Sequence[str]) -> list[str]:
    """One sentence per student model of the low-data studies: each system's best macro dev MRR@10 (mean over its
    seeds, :func:`optical.report.tables.size_frame`) at every bitext size that has run, smallest first."""
    from optical.report.tables import size_frame

    by_model: dict[str, dict[int, dict[str, dict]]] = {}
    for folder in (root / key for key in studies):
        if trained := {k: v for k, v in read_json_folder(folder).items() if v.get("training")}:
            first = next(iter(trained.values()))
            by_model.setdefault(first["model"], {})[first["params"]["train"]["max_pairs"]] = trained
    sentences = []
    for model, studies in sorted(by_model.items()):
        frame = size_frame(studies)
        sentences.append(f"On dev, student {model}'s best macro MRR@10 (mean of its seeds) by bitext pairs per "
                         "language: " + "; ".join(
                             f"{pairs:,}: " + ", ".join(f"{name} {score:.3f}"
                                                        for name, score in zip(rows["loss"], rows["dev MRR@10"]))
                             for pairs, rows in frame.groupby("pairs", sort=True)) + ".")
    return sentences


def _readouts(tested: dict[str, dict]) -> list[str]:
    """The readouts of a folder of test results, pooled first."""
    return sorted({v["params"]["readout"] for v in tested.values()}, key=lambda r: r != "pooled")
