"""Result tables (pandas) from results JSON dicts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from optical.eval.selection import best_evaluation
from optical.eval.macro import describe
from optical.eval.metrics import gap_closure
from optical.report.labels import FAMILY_NAMES, alias, display_name, legend_markdown


def metric_table(results: dict[str, dict], measure: str = "MRR@10", labels: bool = True) -> pd.DataFrame:
    """Rows: systems; columns: languages then ``macro``; values: ``measure``."""
    rows = {}
    for system, result in results.items():
        row = {lang: m[measure] for lang, m in result["languages"].items()}  # seed means for students
        row["macro"] = result["macro"][measure]
        rows[display_name(system) if labels else system] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def seed_table(results: dict[str, dict], measure: str = "MRR@10") -> pd.DataFrame:
    """Per system: the macro ``measure`` of each seed, their mean and sample standard deviation (NaN, not 0, for a
    single seed)."""
    rows = {}
    for system, result in results.items():
        seeds = result.get("per_seed", [])
        row = {f"seed {s['seed']}": s["macro"][measure] for s in seeds}
        sd = result["macro"].get(f"{measure} sd")  # None for a single seed (aggregate_seeds)
        row.update(mean=result["macro"][measure], sd=float("nan") if sd is None else sd)
        rows[display_name(system)] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def gap_closure_table(results: dict[str, dict], floor: dict, ceiling: dict, measure: str = "MRR@10") -> pd.DataFrame:
    """Gap closure ``(student - floor) / (ceiling - floor)`` per language and for the macro average."""
    rows = {}
    for system, result in results.items():
        row = {lang: gap_closure(m[measure], floor["languages"][lang][measure], ceiling["languages"][lang][measure])
               for lang, m in result["languages"].items()}
        row["macro"] = gap_closure(result["macro"][measure], floor["macro"][measure], ceiling["macro"][measure])
        rows[display_name(system)] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def significance_table(results: dict[str, dict]) -> pd.DataFrame:
    """Per system and language: ΔMRR@10 against the reference, raw and Holm-corrected p-values."""
    rows = []
    for system, result in results.items():
        sig = result.get("significance")
        if not sig:
            continue
        for lang, t in sig["languages"].items():
            rows.append({"system": display_name(system), "vs": display_name(sig["reference"]), "language": lang,
                         "ΔMRR@10": t["delta"], "p": t["p_value"], "p (Holm)": t["p_holm"], "queries": t["n"]})
    return pd.DataFrame(rows)


def macro_test_table(results: dict[str, dict]) -> pd.DataFrame:
    """Per system with a macro test (:func:`optical.studies.seed_means.add_macro_comparison`): Δ macro MRR@10
    against the reference, its CI (bootstrap over queries and seeds), the stratified randomisation p, the TOST
    interval and the equivalence verdict at the margin."""
    rows = []
    for system, result in results.items():
        if t := result.get("macro_test"):
            rows.append({"system": display_name(system), "vs": display_name(t["reference"]),
                         "seeds (vs)": f"{t['seeds'][0]} ({t['seeds'][1]})", "Δ macro": t["delta"],
                         f"{t['ci_level']:.0%} CI": _interval(t["ci"]), "p": t["p_value"],
                         f"{1 - 2 * t['alpha']:.0%} CI (TOST)": _interval(t["ci_tost"]),
                         "verdict": describe(t)})
    return pd.DataFrame(rows)


def _interval(bounds: list[float]) -> str:
    return f"[{bounds[0]:+.3f}, {bounds[1]:+.3f}]"


def compute_cost(results_root) -> pd.DataFrame:
    """What a full recompute costs, per results folder (study) and in total, from the wall times each results file
    recorded when it was computed: students trained, their steps and training hours (seed means, which sum their
    seeds, are not counted twice; results kept under ``superseded/`` are not counted), and the hours of evaluation
    and of the training-free studies."""
    from optical.io import read_json

    rows = {}
    for folder in sorted(p for p in Path(results_root).iterdir() if p.is_dir()):
        results = [read_json(f) for f in sorted(folder.rglob("*.json")) if "superseded" not in f.parts]
        trained = [r["training"] for r in results if "training" in r and "seeds" not in r.get("params", {})]
        evaluated = sum(r.get("meta", {}).get("wall_s", 0.0) + r.get("wall_s", 0.0) for r in results)
        if trained or evaluated:
            rows[folder.name] = {"students": len(trained), "steps": sum(t["steps"] for t in trained),
                                 "training (h)": sum(t["wall_s"] for t in trained) / 3600,
                                 "evaluation and maps (h)": evaluated / 3600,
                                 "device": ", ".join(sorted({t["device"] for t in trained})) or "–"}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    if len(frame):
        total = frame[["students", "steps", "training (h)", "evaluation and maps (h)"]].sum()
        frame.loc["total"] = {**total.to_dict(), "device": ", ".join(sorted(set(frame["device"]) - {"–"})) or "–"}
    return frame


def dev_table(results: dict[str, dict]) -> pd.DataFrame:
    """Per variant, at its selected checkpoint: AfriQA dev MRR@10 per language and their macro mean, MAFAND dev
    bitext retrieval MRR and top-1 (macro over languages), and the step (short column names: it fits the page)."""
    rows = {}
    for name, result in results.items():
        best = best_evaluation(result["training"]["dev_history"])
        langs = [k for k in result["languages"]]
        row = {lang: best[lang] for lang in langs if lang in best}
        row.update({"macro": best.get("queries", best["macro"]), "bitext MRR": best.get("bitext"),
                    "bitext top-1": best.get("bitext_top1"), "step": best["step"]})
        rows[display_name(name)] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def ot_diagnostics(results: dict[str, dict]) -> pd.DataFrame:
    """Per variant with an OT term (by its alias, :func:`display_name`): ε, the sd of the informative
    (double-centred) cost over ε (left empty where ε is set relative to it, ``epsilon_relative``: then it is 1/κ by
    construction) and the plan entropy, early (first tenth of training) and late (last tenth), from the training-log
    summary, with the solver's marginal error late in training; and for a combined loss the ratio of the OT to the
    KD gradient norm at step 0."""
    rows = {}
    for name, result in results.items():
        log, norms = result["training"].get("log") or {}, result["training"].get("grad_norms_step0") or {}
        row = {}
        if "cost_sd" in log:
            # with ε relative to the cost's spread (κ), sd / ε is 1 / κ by construction: not shown
            relative = (result["training"].get("config") or {}).get("ot", {}).get("epsilon_relative") is not None
            for when, i in (("early", 0), ("late", -1)):
                row[f"ε ({when})"] = log["epsilon"][i]
                row[f"cost sd / ε ({when})"] = None if relative else log["cost_sd"][i] / log["epsilon"][i]
                row[f"plan entropy ({when})"] = log["plan_entropy"][i]
            if "marginal_error" in log:  # is the solver converged? (balanced: ‖P1 − a‖₁ at the last check)
                row["marginal error (late)"] = log["marginal_error"][-1]
        if {"ot", "kd"} <= set(norms):
            row["‖∇OT‖ / ‖∇KD‖ at step 0"] = norms["ot"] / norms["kd"]
        if row:
            rows[display_name(name)] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def twin_table(results: dict[str, dict], suffix: str = "-frozen") -> pd.DataFrame:
    """Each variant beside its twin named ``<variant><suffix>`` (e.g. frozen word embeddings): best macro dev
    MRR@10 of both, mean over seeds (:func:`optical.study_spec.twin_scores`), and the difference. (Step times are not
    compared from the cards: a card's wall time counts whatever else the machine ran meanwhile;
    ``benchmarks/bench_step.py`` measures the ratio in one run.)"""
    from optical.study_spec import twin_scores

    rows = {alias(name): {"dev macro": base, f"dev macro{suffix.replace('-', ' ')}": other, "Δ": other - base}
            for name, (base, other) in twin_scores(results, suffix).items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def size_frame(studies: dict[int, dict[str, dict]], panel: str = "macro") -> pd.DataFrame:
    """One row per bitext size (pairs per language) and system: best macro dev MRR@10, mean and sd over the
    system's seeds, from the dev results of one study per size (:func:`optical.studies.students.dev_study`);
    ``language`` is ``panel`` so that :func:`optical.report.plots.size_curves` draws one panel per value (e.g. one
    per arm when frames of several arms are concatenated)."""
    import numpy as np

    from optical.study_spec import seed_groups

    rows = []
    for pairs, results in studies.items():
        for name, members in seed_groups(list(results)).items():
            scores = [results[m]["training"]["best_dev_macro_mrr10"] for m in members]
            rows.append({"language": panel, "loss": alias(name), "pairs": pairs, "dev MRR@10": float(np.mean(scores)),
                         "sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else None, "seeds": len(scores)})
    return pd.DataFrame(rows)


def low_data_test_frame(tested: dict[int, dict[str, dict]], panel: str, space: dict | None = None,
                        readout: str = "pooled") -> pd.DataFrame:
    """One row per bitext size (pairs per language) and system of an arm read on test: ``tested`` maps a size to
    its test reads (:func:`optical.studies.runner.run_study`'s ``test``); ``KD``, ``OT`` (test macro MRR@10, mean
    over the seeds, ``seeds``; OT with ``delta`` against KD and its 95% ``ci_low``/``ci_high``), ``floor`` (the
    zero-shot encoder) and, from the closed-form ``space`` of the arm's encoder, ``map`` (the map and ridge chosen
    on dev at that size, read on test) at each size it was fit at. ``panel`` names the arm."""
    from optical.report.labels import family
    from optical.eval.selection import best_closed_form

    rows = []
    for pairs, reads in sorted(tested.items()):
        for name, result in reads.items():
            if not name.endswith(f"-{readout}") or family(name) not in ("kd", "ot", "teacher"):
                continue
            test = result.get("macro_test") or {}
            rows.append({"panel": panel, "pairs": pairs, "system": FAMILY_NAMES.get(family(name), "floor"),
                         "MRR@10": result["macro"]["MRR@10"], "seeds": len(result.get("seeds") or [0]),
                         "delta": test.get("delta"), "ci_low": (test.get("ci") or [None])[0],
                         "ci_high": (test.get("ci") or [None, None])[1]})
    for size in sorted(int(s) for s in (space or {}).get("reads", {}).get("test", {})):
        best = best_closed_form(space, size)
        rows.append({"panel": panel, "pairs": size, "system": "map", "MRR@10": best["test"], "seeds": None,
                     "delta": None, "ci_low": None, "ci_high": None, "map": best["map"]})
    return pd.DataFrame(rows)


def students_against_maps_table(result: dict) -> pd.DataFrame:
    """One row per final student of :func:`optical.studies.closed_form.students_against_maps`: its arm, the map it
    is compared with (chosen on dev: map, pairs per language, relative ridge), test macro Δ (student − map), its
    95% CI and the two-part verdict."""
    return pd.DataFrame([{"arm": r["arm"], "student": display_name(r["student"].removesuffix("-pooled")),
                          "map (pairs, ridge)": f"{r['map']} ({r['size']:,}, "
                                                f"{'–' if r['ridge'] is None else r['ridge']})",
                          "Δ vs map": r["test"]["delta"], "95% CI": _interval(r["test"]["ci"]),
                          "verdict": describe(r["test"])} for r in result["rows"]])


def maps_on_students_table(reads: dict[str, dict]) -> pd.DataFrame:
    """Dev macro MRR@10 of each distilled student (rows) with each closed-form map applied to its queries
    (columns; ``identity``: the student as trained), from :func:`optical.studies.closed_form.maps_on_students`."""
    rows = {}
    for student, result in reads.items():
        (size, by_map), = result["reads"]["dev"].items()
        rows[f"{alias(student)} ({size} pairs)"] = {kind: cell["macro"]["MRR@10"] for kind, cell in by_map.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def plan_entropy_table(examples: list[dict]) -> pd.DataFrame:
    """Row entropy of each pair's OT plan at each stage (:func:`optical.studies.plans.pair_plans`): 0 when every
    student token sends its mass to one teacher token, 1 when it spreads it evenly."""
    return pd.DataFrame([{"pair": e["source"][:40], **{f"{stage}: row entropy": plans["row_entropy"]
                                                       for stage, plans in e["plans"].items()}} for e in examples])


def show_final_test(tested: dict[str, dict], readouts: list[str], caption: str,
                    per_language: bool = False) -> None:
    """Display one reading of :func:`optical.studies.test_reads.final_test`: test MRR@10 per language (students:
    seed means; with several seeds, each seed's macro), the macro test of the claim, with ``per_language`` the
    per-language tests (exploratory) against KD, and the answer in words
    (:func:`optical.report.summary.fair_test_answer`)."""
    from IPython.display import Markdown, display

    from optical.report.summary import fair_test_answer

    display(metric_table(tested, "MRR@10").style.format(precision=3).set_caption(caption))
    teacher = next((r["params"]["teacher"] for r in tested.values() if r.get("params", {}).get("teacher")), None)
    if legend := legend_markdown(list(tested), teacher):
        display(Markdown(legend))
    if any(len(r.get("seeds", [])) > 1 for r in tested.values()):
        seeded = {name: r for name, r in tested.items() if "seeds" in r}
        display(seed_table(seeded).style.format(precision=3, na_rep="–").set_caption("macro MRR@10 by seed"))
    macro = macro_test_table(tested)
    if len(macro):
        display(macro.style.format({"Δ macro": "{:+.3f}", "p": "{:.2g}"}).hide(axis="index").set_caption(
            "the claim: macro difference from KD (CI over queries and seeds; equivalence by two one-sided tests)"))
    sig = significance_table(tested) if per_language else []
    if len(sig):
        display(sig.style.format({"ΔMRR@10": "{:+.3f}", "p": "{:.4f}", "p (Holm)": "{:.4f}"}).hide(axis="index")
                .set_caption("per language, exploratory: paired randomisation, Holm over languages"))
    display(Markdown(fair_test_answer(tested, readouts)))


def show_dev_curves(results: dict[str, dict], title: str | None = None) -> None:
    """Display the learning curves of one dev study (:func:`optical.studies.students.dev_study`) on both dev
    criteria: the figure alone, for a cell whose caption states its point."""
    import matplotlib.pyplot as plt

    from optical.report.plots import learning_curves

    learning_curves(results, title=title)
    plt.show()


def show_dev_table(results: dict[str, dict]) -> None:
    """Display the dev table of one dev study at each selected checkpoint and whether dev or the budget ended
    training (:func:`optical.report.summary.budget_sentence`)."""
    from IPython.display import Markdown, display

    from optical.report.summary import budget_sentence

    display(dev_table(results).style.format(precision=3, na_rep="–").set_caption(
        "AfriQA dev MRR@10 per language and macro; MAFAND dev bitext retrieval"))
    display(Markdown(budget_sentence(results)))


def closed_form_table(results: dict[str, dict], split: str = "test", value: str = "MRR@10") -> pd.DataFrame:
    """Macro MRR@10 (``value="ridge"``: the dev-chosen relative ridge, NaN for a map without one) of every
    closed-form map (:mod:`optical.studies.closed_form`) by space and map (rows) and bitext pairs per language
    (columns), on ``split``."""
    rows = {}
    for space, result in results.items():
        for size, by_map in result["reads"][split].items():
            for kind, cell in by_map.items():
                rows.setdefault((space, kind), {})[int(size)] = (cell["macro"]["MRR@10"] if value == "MRR@10"
                                                                 else cell.get("ridge"))
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.names = ["space", "map"]
    frame.columns.name = "pairs per language"
    return frame


def show_tuning_budget(results_root: str | Path, declared: dict[str, list[str]], at_step: int = 250,
                       families: tuple[str, ...] = ("kd", "ot", "contrastive-kd")) -> None:
    """Display the dev variants of each of ``families`` that has any side by side
    (:func:`optical.report.summary.tuning_budget_rows`, from the stored results of the dev studies named in
    ``declared``, with the students each declares), the number each family had, the winner the rule picks, and
    whether KD's ranking at ``at_step`` equals its ranking at the selected step."""
    from IPython.display import HTML, Markdown, display

    from optical.io import read_json_folder
    from optical.report.summary import ranking_stable, tuning_budget_rows

    studies = {key: read_json_folder(Path(results_root) / key) for key in declared}
    rows = tuning_budget_rows(studies, declared, families, at_step=at_step)
    table = pd.DataFrame(rows)
    if table.empty:
        display(Markdown("No dev variant of any family is declared."))
        return
    families = [f for f in families if (table["family"] == f).any()]
    table["rank"] = table["rank"] if "rank" in table else float("nan")  # nothing ran yet
    sides = []
    for family in families:
        mine = table[table["family"] == family].drop(columns="family").sort_values("rank", na_position="last")
        twice = mine["variant"].duplicated(keep=False)  # a variant run at two budgets: its label says which
        names = [display_name(v) + (f" ({steps:,.0f} steps)" if again else "")
                 for v, steps, again in zip(mine["variant"], mine["steps"].fillna(0), twice)]
        sides.append(mine.assign(variant=names).set_index("variant")
                     .style.format(precision=3, na_rep="not run yet")
                     .format("{:,.0f}", subset=["steps", "selected step", "rank"], na_rep="not run yet").set_caption(
                         f"{FAMILY_NAMES[family]}: {int(mine['rank'].notna().sum())} variants run "
                         f"({len(mine)} declared)"))
    display(HTML('<div style="display: flex; gap: 2em; flex-wrap: wrap">'
                 + "".join(side.to_html() for side in sides) + "</div>"))
    lines = []
    for family in families:
        ran = table[(table["family"] == family) & table["rank"].notna()]
        if not ran.empty:
            best = ran.sort_values("rank").iloc[0]
            waiting = int((table["family"] == family).sum()) - len(ran)
            steps = "/".join(f"{s:,.0f}" for s in sorted(set(ran["steps"].dropna())))
            verb = "the rule (best dev macro MRR@10 at the selected step) picks" if not waiting else \
                f"{waiting} declared still to run, so no rule has chosen yet; best so far is"
            lines.append(f"* {FAMILY_NAMES[family]}: {len(ran)} variants run ({steps} steps); {verb} "
                         f"{display_name(best['variant'])} ({best['dev (selected)']:.3f}, `{best['study']}`).")
    stable = ranking_stable(rows, "kd", at_step)
    lines.append(f"* KD's variants that ran past step {at_step}: " + (
        "fewer than two, so no ranking to compare yet." if stable is None else
        f"their ranking at step {at_step} {'equals' if stable else 'differs from'} their ranking at the selected "
        "step."))
    display(Markdown("\n".join(lines) + "\n\n" + legend_markdown(list(table["variant"]))))


def reproduce_table(cost: pd.DataFrame, params: dict, params_file: str = "params/full.yaml") -> pd.DataFrame:
    """One row per study the parameters declare that has stored results: what it trains (students stored, their
    languages and step budget), its CPU hours of training and of evaluation (from ``cost``, :func:`compute_cost` of
    the results folder), the device the cards name, and the one command that runs it (trains only what the store
    lacks)."""
    from optical.study_spec import studies_of

    runnable = studies_of(params)
    rows = {}
    for key, section in params.items():
        if not isinstance(section, dict) or key not in cost.index:
            continue
        train = section.get("train") or {}
        c = cost.loc[key]
        rows[key] = {"trains": f"{int(c['students'])} students" if c["students"] else "nothing (reads, maps)",
                     "languages": len(section.get("languages", [])) or "–",
                     "step budget": train.get("max_steps")
                     or (f"{train['epochs']} epochs" if "epochs" in train else "–"),
                     "training (h)": c["training (h)"], "evaluation (h)": c["evaluation and maps (h)"],
                     "device": c["device"],
                     "command": f"optical run --params {params_file} --study {key}" if key in runnable
                     else "optical book (its chapter)"}
    return pd.DataFrame.from_dict(rows, orient="index")
