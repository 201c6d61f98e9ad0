"""The conclusions chapter, written from the stored results JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from optical.io import read_json_folder
from optical.report.intro import multilingual_answer
from optical.report.labels import alias, legend_markdown
from optical.report.summary import (FINAL_READINGS, answer_paragraph, closed_form_sentence, fair_test_answer,
                                    longer_budget_sentence, on_l_queries)


LOW_DATA_STUDIES = ("low_data_100", "low_data_300", "low_data_1000", "low_data_e5t_100", "low_data_e5t_300",
                    "low_data_e5t_1000")
"""The low-data studies the conclusions read when the parameters declare them (chapter 14)."""
MULTILINGUAL_STUDIES = ("e5t_curves", "e5s_curves", "e5t_long", "e5s_long")
"""Each multilingual arm's learning curve and its answer at the curve's budget (chapter 12)."""

OLD_DEV = ("(These students were trained on bitext that held the AfriQA dev questions, so their dev numbers "
           "partly measure memorisation, which favours KD; the fair test repeats the comparison on a clean dev.)")


def conclusions(results_root: str | Path, dataset: str = "afriqa", low_data: Sequence[str] = (),
                declared: Sequence[str] = ()) -> str:
    """Markdown: the fair test's answer first, the multilingual arms (with their learning curves and answers at the
    curves' budget named in ``declared``: ``<arm>_curves``, ``<arm>_long``), the training-free maps, little bitext
    (the low-data studies named in ``low_data``), then the superseded first comparison, its multilingual students,
    ablations and bitext size. ``low_data`` and ``declared`` name the studies the parameters declare."""
    root = Path(results_root)
    stored = {k: v for k, v in read_json_folder(root / dataset).items() if "macro" in v}  # retrieval results only
    multilingual = {k: v for k, v in stored.items() if v.get("training", {}).get("config", {}).get("student")}
    main = {k: v for k, v in stored.items() if k not in multilingual and k != "e5-torch"}
    parts = _fair_section(root)
    parts += ["## Multilingual students under the fair protocol", "\n".join(multilingual_answer(root, declared)[2:])]
    parts += _closed_form_section(root)
    parts += _low_data_section(root, low_data)
    parts += ["## How the answer changed: the first comparison (superseded)",
              "The first protocol (200 steps, a dev split whose questions were in the bitext, ε 0.05, the pooled "
              "readout only); the fair test above supersedes it."]
    if {"ot", "kd", "teacher", "ceiling"} <= set(main) and "significance" in main["ot"]:
        parts.append(answer_paragraph({k: v for k, v in main.items() if "training" in v}, main["teacher"],
                                      main["ceiling"]))
        seeds = main["ot"].get("seeds", [0])
        parts.append(f"Every student was trained with {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); differences of a few MRR points on "
                     f"~300 queries per language are within seed-to-seed variation unless the test says otherwise.")
    else:
        parts.append("The distillation results are not available (run the distillation chapter).")
    if "e5" in main and "ot" in main:
        parts.append(f"For comparison, the zero-shot multilingual-e5-small reaches {main['e5']['macro']['MRR@10']:.3f} "
                     f"macro MRR@10 and BM25 {main['bm25']['macro']['MRR@10']:.3f}." if "bm25" in main else "")
    parts += _multilingual_section(multilingual, main, stored.get("e5-torch"))
    ablations = {k: v for k, v in read_json_folder(root / "ablations").items()}
    if ablations:
        best = max(ablations, key=lambda k: ablations[k]["macro"]["MRR@10"])
        listing = ", ".join(f"{k} {v['macro']['MRR@10']:.3f}" for k, v in ablations.items())
        train = next(iter(ablations.values()))["params"]
        budget = (f"joint students on {', '.join(train['languages'])}, {train['train'].get('max_steps')} steps of "
                  f"{train['train'].get('batch_size')} pairs each")
        parts += ["## Ablations (dev)", f"Dev MRR@10 by variant ({budget}): {listing}. Best: {best}. {OLD_DEV}"]
    sizes = read_json_folder(root / "bitext_size")
    if sizes:
        lines = []
        by_key = {(r["params"]["languages"][0], r["params"]["train"]["max_pairs"], r["params"]["train"]["loss"]):
                  r["macro"]["MRR@10"] for r in sizes.values()}
        for lang in sorted({k[0] for k in by_key}):
            cells = [f"N={n}: OT {by_key[(lang, n, 'ot')]:.3f} vs KD {by_key[(lang, n, 'kd')]:.3f}"
                     for n in sorted({k[1] for k in by_key if k[0] == lang})
                     if (lang, n, "ot") in by_key and (lang, n, "kd") in by_key]
            lines.append(f"- {lang}: " + "; ".join(cells))
        cells = [(lang, n) for lang, n, loss in by_key if loss == "ot" and (lang, n, "kd") in by_key]
        ahead = sum(by_key[(lang, n, "ot")] > by_key[(lang, n, "kd")] for lang, n in cells)
        parts += ["## Bitext size (dev)", f"OT is ahead of KD in {ahead} of {len(cells)} (language, size) cells. "
                  f"{OLD_DEV}"] + lines
    return "\n\n".join(p for p in parts if p)


def _multilingual_section(students: dict[str, dict], main: dict[str, dict], zero_shot: dict | None) -> list[str]:
    """Paragraphs on the students initialised from a multilingual encoder (notebook 07), one per arm."""
    arms = sorted({name.rsplit("-", 1)[0] for name in students})
    if not arms:
        return []
    m = lambda r: r["macro"]["MRR@10"]  # noqa: E731
    parts = ["## A multilingual student"]
    for arm in arms:
        ot, kd = f"{arm}-ot", f"{arm}-kd"
        if ot not in students or kd not in students or "significance" not in students[ot]:
            continue
        config = students[ot]["training"]["config"]
        parts.append(f"**{arm}** (student initialised from {config['student']}, teacher {config['teacher']}): "
                     + answer_paragraph({k: v for k, v in students.items() if k.startswith(arm + "-")}, None, None,
                                        ot_name=ot, kd_name=kd))
    english = [f"{name} {m(main[name]):.3f}" for name in ("kd", "ot") if name in main]
    if english:
        parts.append("The students of the main comparison, initialised from the English teacher, reach "
                     + " and ".join(english) + " macro MRR@10.")
    if zero_shot is not None:
        parts.append(f"The torch mE5-small used as the initialisation reaches {m(zero_shot):.3f} zero-shot.")
    return parts


def _fair_section(root: Path) -> list[str]:
    """The fair test (notebook 08): dev-selected variants, the learning-curve budget, and the test read once."""
    variants = {k: v for k, v in read_json_folder(root / "fair").items() if "training" in v}  # not loss-scales.json
    tested = read_json_folder(root / "fair" / "test")
    if not variants and not tested:
        return []
    parts = ["## The answer: the fair test"]
    for key, budget in FINAL_READINGS:  # the latest final reading first: the answer
        if final := read_json_folder(root / key / "test"):
            parts += [f"The final students ({budget}), against KD:", fair_test_answer(final, _readouts(final))]
            break
    parts += ["How the test was made fair, and every reading in the order it was run: clean dev (no dev or test "
              "question in any bitext, MAFAND dev held out), balanced loss scales, ε relative to the informative "
              "cost, the debiased Sinkhorn divergence, a MaxSim readout and longer training; every choice on dev."]
    if variants:
        dev = {k: v["training"]["best_dev_macro_mrr10"] for k, v in variants.items()}
        parts.append("Dev MRR@10 (AfriQA, selected checkpoint) by variant: "
                     + ", ".join(f"{alias(k)} {v:.3f}" for k, v in sorted(dev.items(), key=lambda kv: -kv[1])) + ".")
    if tested:
        first = next(iter(tested.values()))["params"]
        parts.append(f"Test split, read once ({', '.join(first['languages'])}):")
        parts.append(fair_test_answer(tested, _readouts(tested)))
    if longer := read_json_folder(root / "long_curves"):
        parts.append("Past the learning curves' budget, on dev only (a longer run of the same options):")
        parts.append(longer_budget_sentence(read_json_folder(root / "curves"), longer))
    for key, budget in reversed(FINAL_READINGS):  # in the order they were run
        final = read_json_folder(root / key / "test")
        if final:
            first = next(v for v in final.values() if v["params"]["train"])["params"]
            train = first["train"]
            parts.append(f"Students {budget} ({', '.join(first['languages'])}; {train['max_steps']} steps of "
                         f"{train['batch_size']} pairs, up to {train['max_pairs']} pairs per language, the best dev "
                         "checkpoint), test read once:")
            parts.append(fair_test_answer(final, _readouts(final)))
    names = [*variants, *(r["params"]["system"] for key in ("fair", *(k for k, _ in FINAL_READINGS))
                          for r in read_json_folder(root / key / "test").values() if "system" in r["params"])]
    return parts + [legend_markdown(names)]


def _closed_form_section(root: Path) -> list[str]:
    """The training-free maps (notebook 11): the dev-chosen map per space against zero-shot and the students."""
    results = on_l_queries(read_json_folder(root / "closed_form"))
    if not results:
        return []
    students = {name.removesuffix("-pooled"): r for name, r in read_json_folder(root / "long_rerun" / "test").items()
                if name.endswith("-pooled") and name.split("-")[0] in ("kd", "ot")}
    return ["## Training-free maps", closed_form_sentence(results, students)]


def _low_data_section(root: Path, studies: Sequence[str]) -> list[str]:
    """The low-data regime (notebook 14): each bitext size of the declared ``studies`` read on test, against KD,
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
