"""The answer that opens the book (``book/answer.md``), generated from the stored results before each build."""

from __future__ import annotations

from pathlib import Path

from optical.io import atomic_write_text, read_json_folder
from optical.report.summary import FINAL_READINGS, against_kd

ROWS = (("floor: MiniLM on L query", "teacher"), ("BM25 on L query", "bm25"), ("mE5-small on L query", "e5"))
CEILING = ("ceiling: MiniLM on human EN translation", "ceiling")


def _best(results: dict[str, dict], suffix: str) -> tuple[str, dict] | None:
    """The student with the highest macro MRR@10 among those named ``...<suffix>`` (``kd`` or ``ot``)."""
    names = [k for k, r in results.items() if "training" in r and (k == suffix or k.endswith("-" + suffix))]
    if not names:
        return None
    name = max(names, key=lambda k: results[k]["macro"]["MRR@10"])
    return name, results[name]


def _reading(folder: Path, budget: str, alpha: float) -> list[str]:
    """Markdown lines of one folder of :func:`optical.report.experiments.final_test` results: a caption naming how
    its students were trained and a table of each against KD per readout; empty if untested."""
    tested = read_json_folder(folder)
    if "kd-pooled" not in tested:
        return []
    lines = [f"**Students {budget}** ({', '.join(tested['kd-pooled']['languages'])}):", "",
             "| readout | student | seeds (KD) | test macro MRR@10 | KD | Δ | significantly better | significantly worse |",
             "|---|---|---|---|---|---|---|---|"]
    for r in against_kd(tested, ["pooled", "maxsim"], alpha):
        lines.append(f"| {r['readout']} | {r['name']} | {r['seeds']} ({r['kd_seeds']}) | {r['score']:.3f} | "
                     f"{r['kd']:.3f} | {r['score'] - r['kd']:+.3f} | {', '.join(r['better']) or '–'} | "
                     f"{', '.join(r['worse']) or '–'} |")
    return lines + [""]


def fair_readings(results_root: str | Path, alpha: float = 0.05) -> str:
    """Markdown: the fair test (chapter 8) against KD, a table per final reading (the re-answer on every language at
    the longer budget and at the curves' budget, the students trained to the end of the learning curves), latest
    first, each when it was tested; else the dev study's; empty when none was."""
    root = Path(results_root)
    tables = [line for key, budget in FINAL_READINGS for line in _reading(root / key / "test", budget, alpha)]
    tables = tables or _reading(root / "fair" / "test", "at the dev study's budget", alpha)
    if not tables:
        return ""
    lead = ("The fair test ({doc}`executed/08_fair_test`) repeats the comparison with a clean dev, every choice made "
            "on dev and test read once per final configuration: each student against KD in test macro MRR@10 "
            "(students: mean over their seeds), and the languages where it is significantly better or worse "
            f"(paired randomisation, Holm, α = {alpha}).")
    return "\n".join([lead, "", *tables])


def answer_markdown(results_root: str | Path, dataset: str = "afriqa") -> str:
    """Markdown: one paragraph answering the research question, a compact test MRR@10 table and the fair test's
    readings against KD (:func:`fair_readings`)."""
    root = Path(results_root)
    results = {k: v for k, v in read_json_folder(root / dataset).items() if "macro" in v and "languages" in v}
    kd, ot = _best(results, "kd"), _best(results, "ot")
    if kd is None or ot is None:
        return "## The answer\n\nNo distilled student has been trained yet: run `optical book` (the main job).\n"
    rows = [(label, results[key]) for label, key in ROWS if key in results]
    rows += [(f"best KD student ({kd[0]})", kd[1]), (f"best OT student ({ot[0]})", ot[1])]
    if CEILING[1] in results:
        rows.append((CEILING[0], results[CEILING[1]]))
    langs = list(kd[1]["languages"])
    m = lambda r: r["macro"]["MRR@10"]  # noqa: E731
    ot_ahead = [lang for lang in langs if ot[1]["languages"][lang]["MRR@10"] > kd[1]["languages"][lang]["MRR@10"]]
    lines = ["## The answer", "",
             f"On AfriQA-CLIR (test split, {len(langs)} languages), the best OT-distilled student ('{ot[0]}') reaches "
             f"a macro MRR@10 of **{m(ot[1]):.3f}** against **{m(kd[1]):.3f}** for the best KD student ('{kd[0]}'): "
             f"OT is {'ahead of' if m(ot[1]) > m(kd[1]) else 'behind'} KD, and ahead on {len(ot_ahead)} of "
             f"{len(langs)} languages. Significance tests per language are in "
             "{doc}`the distillation chapter <executed/02_distillation>` and {doc}`executed/07_multilingual`; "
             "{doc}`executed/08_fair_test` re-examines the comparison after removing five handicaps of OT "
             "(clean dev, balanced losses, ε, readout, budget), and {doc}`executed/09_conclusions` sums up.", "",
             "| system | " + " | ".join(langs) + " | macro |", "|---|" + "---|" * (len(langs) + 1)]
    for label, result in rows:
        cells = [f"{result['languages'][lang]['MRR@10']:.3f}" for lang in langs]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {m(result):.3f} |")
    lines += ["", "Test MRR@10; students: mean over seeds.", ""]
    if fair := fair_readings(root):
        lines.append(fair)
    lines += ["Generated from `results/` by the book runner.", ""]
    return "\n".join(lines)


def write_answer(results_root: str | Path, book_root: str | Path, dataset: str = "afriqa") -> Path:
    """Write ``<book_root>/book/answer.md`` (atomically), included at the top of the introduction."""
    return atomic_write_text(Path(book_root) / "book" / "answer.md", answer_markdown(results_root, dataset))
