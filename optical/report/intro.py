"""The answer that opens the book (``book/answer.md``), generated from the stored results before each build."""

from __future__ import annotations

from pathlib import Path

from optical.io import atomic_write_text, read_json_folder
from optical.report.summary import FINAL_READINGS, against_kd, seeds_phrase

ROWS = (("floor: MiniLM on L query", "teacher"), ("BM25 on L query", "bm25"), ("mE5-small on L query", "e5"))
CEILING = ("ceiling: MiniLM on human EN translation", "ceiling")


def _best(results: dict[str, dict], suffix: str) -> tuple[str, dict] | None:
    """The student with the highest macro MRR@10 among those named ``...<suffix>`` (``kd`` or ``ot``)."""
    names = [k for k, r in results.items() if "training" in r and (k == suffix or k.endswith("-" + suffix))]
    if not names:
        return None
    name = max(names, key=lambda k: results[k]["macro"]["MRR@10"])
    return name, results[name]


def _reading(folder: Path, budget: str, alpha: float) -> str:
    """The sentence of one folder of :func:`optical.report.experiments.final_test` results; empty if untested."""
    tested = read_json_folder(folder)
    if "kd-pooled" not in tested:
        return ""
    parts = [f"'{r['name']}' {r['score']:.3f} vs KD {r['kd']:.3f} with the {r['readout']} readout "
             f"({seeds_phrase(r['seeds'], r['kd_seeds'])}; significantly better on {len(r['better'])}, worse on "
             f"{len(r['worse'])} of {r['n']} languages)" for r in against_kd(tested, ["pooled", "maxsim"], alpha)]
    langs = ", ".join(tested["kd-pooled"]["languages"])
    return (f"In the fair test ({{doc}}`executed/08_fair_test`: clean dev, choices on dev, students {budget}, "
            f"{langs}), test macro MRR@10: " + "; ".join(parts) + ".")


def fair_sentence(results_root: str | Path, alpha: float = 0.05) -> str:
    """One sentence per final reading of the fair test (chapter 8) and readout: the re-answer on every language at
    the longer budget and at the curves' budget, and the students trained to the end of the learning curves, each
    when it was tested; else those of the dev study; empty when none was."""
    root = Path(results_root)
    final = [s for key, budget in FINAL_READINGS if (s := _reading(root / key / "test", budget, alpha))]
    return " ".join(final) or _reading(root / "fair" / "test", "at the dev study's budget", alpha)


def answer_markdown(results_root: str | Path, dataset: str = "afriqa") -> str:
    """Markdown: one paragraph answering the research question and a compact test MRR@10 table."""
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
             fair_sentence(root), "",
             "| system | " + " | ".join(langs) + " | macro |", "|---|" + "---|" * (len(langs) + 1)]
    for label, result in rows:
        cells = [f"{result['languages'][lang]['MRR@10']:.3f}" for lang in langs]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {m(result):.3f} |")
    lines += ["", "Test MRR@10; students: mean over seeds. Generated from `results/` by the book runner.", ""]
    return "\n".join(lines)


def write_answer(results_root: str | Path, book_root: str | Path, dataset: str = "afriqa") -> Path:
    """Write ``<book_root>/book/answer.md`` (atomically), included at the top of the introduction."""
    return atomic_write_text(Path(book_root) / "book" / "answer.md", answer_markdown(results_root, dataset))
