"""The conclusions chapter, written from the stored results JSON."""

from __future__ import annotations

from pathlib import Path

from optical.io import read_json
from optical.report.summary import answer_paragraph


def _load(folder: Path) -> dict[str, dict]:
    return {p.stem: read_json(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def conclusions(results_root: str | Path, dataset: str = "afriqa") -> str:
    """Markdown: the answer to the research question, ablations, bitext size, and the caveats."""
    root = Path(results_root)
    main = {k: v for k, v in _load(root / dataset).items() if k not in ("data", "alignment")}
    parts = ["## The research question"]
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
    ablations = {k: v for k, v in _load(root / "ablations").items()}
    if ablations:
        best = max(ablations, key=lambda k: ablations[k]["macro"]["MRR@10"])
        listing = ", ".join(f"{k} {v['macro']['MRR@10']:.3f}" for k, v in ablations.items())
        train = next(iter(ablations.values()))["params"]
        budget = (f"joint students on {', '.join(train['languages'])}, {train['train'].get('max_steps')} steps of "
                  f"{train['train'].get('batch_size')} pairs each")
        parts += ["## Ablations (dev)", f"Dev MRR@10 by variant ({budget}): {listing}. Best: {best}."]
    sizes = _load(root / "bitext_size")
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
        parts += ["## Bitext size (dev)", f"OT is ahead of KD in {ahead} of {len(cells)} (language, size) cells."] + lines
    return "\n\n".join(p for p in parts if p)
