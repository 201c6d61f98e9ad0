"""The opening page (``book/answer.md``): an abstract whose every number is read from ``results/``.

Which comparisons it leads with, in which order, and what each shares with OPTICAL are the parameters' (the
``abstract`` section of ``params/full.yaml``: a list of arms, each naming its final study and the closed-form space of
its encoder); this module only reads the store. :func:`abstract_rows` gives the numbers as rows (the tests check
them against the files), :func:`abstract_markdown` the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from optical.eval.macro import describe
from optical.io import atomic_write_text, read_json, read_json_folder
from optical.eval.selection import best_closed_form
from optical.report.summary import against_kd
from optical.study_spec import in_family

ARM_KEYS = {"study", "name", "who", "space", "shares"}
"""What an arm of the ``abstract`` section holds: its final ``study``, a short ``name``, ``who`` teaches whom, the
closed-form ``space`` of its encoder (``closed_form.spaces``) and what it ``shares`` with OPTICAL."""
OPTIONAL_ARM_KEYS = {"equal_budget"}
"""And optionally ``equal_budget``: dev studies at one step budget where KD got OT's tuning budget and OT's chosen
variant ran to the same budget, after the arm's answer was read."""


def check_arms(arms: Sequence[Mapping], where: str = "abstract") -> list[dict]:
    """The arms of the ``abstract`` section, each with exactly :data:`ARM_KEYS`; raises naming the arm."""
    out = []
    for i, arm in enumerate(arms):
        if not isinstance(arm, Mapping) or not ARM_KEYS <= set(arm) <= ARM_KEYS | OPTIONAL_ARM_KEYS:
            got = sorted(arm) if isinstance(arm, Mapping) else type(arm).__name__
            raise ValueError(f"{where}[{i}]: an arm holds {sorted(ARM_KEYS)} and optionally "
                             f"{sorted(OPTIONAL_ARM_KEYS)}, got {got}")
        out.append(dict(arm))
    return out


def _macro(result: dict | None) -> float | None:
    return result["macro"]["MRR@10"] if result else None


def abstract_rows(results_root: str | Path, arms: Sequence[Mapping]) -> list[dict]:
    """One row per arm read on test: its KD and dev-chosen OT students (seed means, pooled and MaxSim), the macro
    test of OT against KD in each readout, its floor and ceiling (pooled), and the best training-free map of its
    encoder (chosen on dev; ``None`` without closed-form results). Arms whose study has no test read are left out."""
    root, rows = Path(results_root), []
    maps = read_json_folder(root / "closed_form")
    for arm in check_arms(arms):
        tested = read_json_folder(root / arm["study"] / "test")
        compared = [r for r in against_kd(tested, ["pooled", "maxsim"]) if in_family(r["name"], "ot")
                    and not in_family(r["name"], "ot+kd")]
        if not compared:
            continue
        ot, kd = compared[0]["name"], compared[0]["kd_name"]
        rows.append({**arm, "ot": ot, "kd": kd,
                     "scores": {f"{system}-{readout}": _macro(tested.get(f"{name}-{readout}"))
                                for system, name in (("kd", kd), ("ot", ot), ("floor", "teacher"),
                                                     ("ceiling", "ceiling"))
                                for readout in ("pooled", "maxsim")},
                     "tests": {r["readout"]: r["macro"] for r in compared if r["name"] == ot},
                     "seeds": {r["readout"]: (r["seeds"], r["kd_seeds"]) for r in compared if r["name"] == ot},
                     "languages": list(tested[f"{kd}-pooled"]["languages"]),
                     "map": best_closed_form(maps[arm["space"]]) if arm["space"] in maps else None})
    return rows


def baselines(results_root: str | Path) -> dict[str, float]:
    """The test macro MRR@10 of the baselines every arm is read against: BM25 and mE5-small zero-shot (the torch
    model the multilingual students start from), when stored."""
    folder = Path(results_root) / "afriqa"
    return {name: read_json(folder / f"{file}.json")["macro"]["MRR@10"]
            for name, file in (("BM25", "bm25"), ("mE5-small zero-shot", "e5-torch"))
            if (folder / f"{file}.json").is_file()}


def arm_sentence(row: dict) -> str:
    """One arm of :func:`abstract_rows` in a sentence: OT against KD, pooled, with Δ, CI and verdict; MaxSim too."""
    pooled, maxsim = row["tests"].get("pooled"), row["tests"].get("maxsim")
    k, k_kd = row["seeds"]["pooled"]
    seeds = f"{k} seeds each" if k == k_kd else f"{k} seeds vs {k_kd}"
    said = (f"**{row['name']}**, {row['who']}: OT {row['scores']['ot-pooled']:.3f} vs KD "
            f"{row['scores']['kd-pooled']:.3f} ({seeds}), {describe(pooled, 'OT', 'KD')}")
    if maxsim:
        lo, hi = maxsim["ci"]
        said += f"; MaxSim {maxsim['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}], {describe(maxsim)}"
    if pooled.get("fixed_after_test_read"):
        said += " (its margin was fixed after its test read)"
    return said + "."


def equal_budget_sentence(results_root: str | Path, row: dict) -> str:
    """KD's and OT's best dev variants over the arm's ``equal_budget`` dev studies (one step budget), and whether
    the KD the arm's answer used is KD's best there: a sentence, empty without ``equal_budget`` or its results."""
    if not row.get("equal_budget"):
        return ""
    dev, languages = {}, set()
    for study in row["equal_budget"]:
        for name, r in read_json_folder(Path(results_root) / study).items():
            if "training" in r:
                dev[name] = r["training"]["best_dev_macro_mrr10"]
                languages |= set(r["params"]["languages"]) if "params" in r else set()
    best = {family: max((n for n in dev if in_family(n, family) and not in_family(n, "ot+kd")), key=dev.get,
                        default=None) for family in ("kd", "ot")}
    if not all(best.values()):
        return ""
    kd, ot = best["kd"], best["ot"]
    lead = "KD's" if dev[kd] > dev[ot] else "OT's"
    studies = ", ".join(f"`{s}`" for s in row["equal_budget"])
    said = (f"Under an equal tuning budget on dev ({studies}: both families' chosen variants at one step budget, "
            f"{len(languages)} languages, one seed each), {lead} best leads: KD `{kd}` {dev[kd]:.3f}, "
            f"OT `{ot}` {dev[ot]:.3f}")
    if kd != row["kd"]:
        used = f" ({dev[row['kd']]:.3f} there)" if row["kd"] in dev else ""
        said += (f"; the test answer above uses KD as first tuned, `{row['kd']}`{used}, and has not been read again "
                 "with KD's best ({doc}`/book/limitations`)")
    return said + "."


def _baseline_sentence(rows: list[dict], base: dict[str, float]) -> str:
    english = next((r for r in rows if r["space"] == "minilm"), None)
    parts = []
    if base and english:
        top = max(english["scores"]["kd-pooled"], english["scores"]["ot-pooled"])
        above = [f"{name} ({value:.3f})" for name, value in base.items() if value > top]
        if above:
            parts.append(f"{' and '.join(above)} {'are' if len(above) > 1 else 'is'} above both "
                         f"{english['name']} students")
    if english and english["map"]:
        m, floor = english["map"], english["scores"]["floor-pooled"]
        gain = english["scores"]["kd-pooled"] - floor
        if gain > 0:
            parts.append(f"a training-free `{m['map']}` map fit on {m['size']:,} pairs per language lifts "
                         f"{english['name']} from {floor:.3f} to {m['test']:.3f}, {(m['test'] - floor) / gain:.0%} "
                         f"of KD's gain")
    return ("As baselines, " + "; ".join(parts) + ".") if parts else ""


def _table(rows: list[dict], base: dict[str, float]) -> list[str]:
    """Markdown: one column per arm, test macro MRR@10 with the pooled readout."""
    head = "| test macro MRR@10, pooled | " + " | ".join(r["name"] for r in rows) + " |"
    lines = [head, "|---|" + "---|" * len(rows)]

    def line(label: str, values: list[float | None]) -> str:
        return f"| {label} | " + " | ".join("–" if v is None else f"{v:.3f}" for v in values) + " |"

    lines.append(line("floor: the teacher on the query in L", [r["scores"]["floor-pooled"] for r in rows]))
    lines += [line(name, [value] * len(rows)) for name, value in base.items()]
    lines.append(line("best training-free map (chosen on dev)", [r["map"]["test"] if r["map"] else None
                                                                for r in rows]))
    lines.append(line("KD (dev-chosen)", [r["scores"]["kd-pooled"] for r in rows]))
    lines.append(line("OT (dev-chosen)", [r["scores"]["ot-pooled"] for r in rows]))
    lines.append(line("ceiling: the teacher on the English translation", [r["scores"]["ceiling-pooled"]
                                                                           for r in rows]))
    return lines


def abstract_markdown(results_root: str | Path, arms: Sequence[Mapping], corpus_size: int | None = None) -> str:
    """The opening page: the question, an abstract of one sentence per arm (Δ, 95% CI and two-part verdict), the
    baselines in a sentence and a table, what each arm shares with OPTICAL, and the scope."""
    rows = abstract_rows(results_root, arms)
    lines = ["## Abstract", ""]
    if not arms:
        return "\n".join(lines + ["The parameters name no arm for the abstract (their `abstract` section).", ""])
    if not rows:
        return "\n".join(lines + ["No student has been read on test yet: run `optical run` (the main job), then "
                                  "`optical book`.", ""])
    base = baselines(results_root)
    languages = rows[0]["languages"]
    setting = (f"On AfriQA-CLIR ({len(languages)} African query languages, English passages) we compare OT "
               "distillation with standard knowledge distillation (KD) for query encoders distilled from bitext "
               "alone, every choice made on dev and the test read once (macro MRR@10, pooled readout unless "
               "named).")
    rest = [arm_sentence(r) for r in rows[1:]]
    if said := _baseline_sentence(rows, base):
        rest.append(said)
    shares = "; ".join(f"**{r['name']}** {r['shares']}" for r in rows)
    corpus = f"the {corpus_size:,} distinct English gold passages" if corpus_size else "the English gold passages"
    # the lead arm and the table first: at 1280 px the opening screen holds the answer and its baselines
    lead = " ".join(filter(None, [setting, arm_sentence(rows[0]), equal_budget_sentence(results_root, rows[0])]))
    lines += [lead, "", *_table(rows, base), "", " ".join(rest), "",
              f"**What each arm shares with OPTICAL:** {shares}.", "",
              f"**Scope:** queries retrieve among {corpus} of {', '.join(languages)} (not all of Wikipedia); "
              "students were trained on a 2-core CPU within each study's step budget. Direction from the 95% CI, "
              "margin from two one-sided tests on the 90% CI ({ref}`verdicts`).", ""]
    return "\n".join(lines)


def write_abstract(results_root: str | Path, book_root: str | Path, arms: Sequence[Mapping]) -> Path:
    """Write ``<book_root>/book/answer.md`` (atomically), included at the top of the introduction."""
    data = Path(results_root) / "afriqa" / "data.json"
    corpus = read_json(data)["corpus_size"] if data.is_file() else None
    return atomic_write_text(Path(book_root) / "book" / "answer.md", abstract_markdown(results_root, arms, corpus))
