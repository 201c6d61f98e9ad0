"""Sentences generated from results, so that no number in the book is typed by hand."""

from __future__ import annotations

from pathlib import Path

from optical.eval.macro import describe
from optical.eval.metrics import gap_closure
from optical.eval.selection import best_closed_form, best_evaluation
from optical.io import read_json_folder
from optical.report.labels import alias


def answer_paragraph(results: dict[str, dict], floor: dict | None, ceiling: dict | None, alpha: float = 0.05,
                     ot_name: str = "ot", kd_name: str = "kd") -> str:
    """One paragraph answering: how does OT distillation compare with KD in MRR@10?

    ``results`` holds the students (``ot_name`` carries its significance test against ``kd_name``);
    the gap-closure sentence needs ``floor`` and ``ceiling`` and is left out without them.
    """
    ot, kd = results[ot_name], results[kd_name]
    sig = ot["significance"]["languages"]
    langs = list(ot["languages"])
    wins = [lang for lang in langs if sig[lang]["delta"] > 0]
    sig_wins = [lang for lang in langs if sig[lang]["delta"] > 0 and sig[lang]["p_holm"] < alpha]
    sig_losses = [lang for lang in langs if sig[lang]["delta"] < 0 and sig[lang]["p_holm"] < alpha]
    best = max(results, key=lambda s: results[s]["macro"]["MRR@10"])
    m = lambda r: r["macro"]["MRR@10"]  # noqa: E731
    seeds = len(ot.get("seeds", [0]))
    spread = f" (mean of {seeds} seeds; sd {ot['macro'].get('MRR@10 sd', 0):.3f} vs {kd['macro'].get('MRR@10 sd', 0):.3f})" \
        if seeds > 1 else " (one seed)"
    return (
        f"On {len(langs)} languages, the OT-distilled student reaches a macro MRR@10 of {m(ot):.3f} against "
        f"{m(kd):.3f} for standard KD-MSE{spread} (Δ = {m(ot) - m(kd):+.3f}); it is ahead of KD on {len(wins)} of "
        f"{len(langs)} languages. After Holm correction over languages (α = {alpha}), OT is significantly better "
        f"than KD on {len(sig_wins)} language(s){' (' + ', '.join(sig_wins) + ')' if sig_wins else ''} and "
        f"significantly worse on {len(sig_losses)}{' (' + ', '.join(sig_losses) + ')' if sig_losses else ''}. "
        + (f"The OT student closes {gap_closure(m(ot), m(floor), m(ceiling)):.0%} of the gap between the zero-shot "
           f"floor ({m(floor):.3f}) and the translate-test ceiling ({m(ceiling):.3f}). "
           if floor is not None and ceiling is not None else "")
        + f"The best distilled student is '{best}' with {m(results[best]):.3f}."
    )


def against_kd(tested: dict[str, dict], readouts: list[str], alpha: float = 0.05) -> list[dict]:
    """Each student of :func:`optical.studies.test_reads.final_test` against KD, per readout: its name, the readout,
    the KD student's name (``kd_name``: ``kd``, or the study's dev-chosen KD variant), both macro MRR@10 (seed
    means), both numbers of seeds, the macro test of the claim (``macro``: Δ, CI, p and equivalence verdict;
    ``None`` where not computed) and the languages where it is significantly better or worse (Holm, ``alpha``:
    exploratory)."""
    rows = []
    for readout in readouts:
        for name, result in tested.items():
            if not name.endswith(f"-{readout}") or "significance" not in result:
                continue
            kd = tested[result["significance"]["reference"]]  # kd, or the study's dev-chosen KD student
            sig = result["significance"]["languages"]
            rows.append({"name": name.removesuffix("-" + readout), "readout": readout,
                         "kd_name": result["significance"]["reference"].removesuffix("-" + readout),
                         "score": result["macro"]["MRR@10"], "kd": kd["macro"]["MRR@10"], "n": len(sig),
                         "seeds": len(result.get("seeds", [0])), "kd_seeds": len(kd.get("seeds", [0])),
                         "macro": result.get("macro_test"),
                         "better": [lang for lang, t in sig.items() if t["delta"] > 0 and t["p_holm"] < alpha],
                         "worse": [lang for lang, t in sig.items() if t["delta"] < 0 and t["p_holm"] < alpha]})
    return rows


def seeds_phrase(seeds: int, kd_seeds: int) -> str:
    """How many seeds a comparison with KD averages: "one seed each", "mean of 3 seeds each", "1 seed vs KD's 3"."""
    if seeds == kd_seeds:
        return "one seed each" if seeds == 1 else f"mean of {seeds} seeds each"
    return f"{seeds} seed{'s' * (seeds > 1)} vs KD's {kd_seeds}"


def macro_phrase(test: dict | None) -> str:
    """The macro test of a comparison in words: "95% CI [-0.003, +0.013], p 0.144; non-inferior at ±0.01"."""
    if not test:
        return "no macro test"
    lo, hi = test["ci"]
    when = " (margin fixed after the test read)" if test.get("fixed_after_test_read") else ""
    return (f"{test['ci_level']:.0%} CI [{lo:+.3f}, {hi:+.3f}], p {test['p_value']:.3g}; "
            f"{describe(test)}{when}")


def fair_test_answer(tested: dict[str, dict], readouts: list[str], alpha: float = 0.05) -> str:
    """Markdown sentences: each student against KD, per readout (:func:`against_kd`): the macro difference with
    its test first, then the per-language tests (exploratory)."""
    lines = [f"* **{r['readout']}** readout: {alias(r['name'])} {r['score']:.3f} vs KD {r['kd']:.3f} macro MRR@10 "
             f"(Δ {r['score'] - r['kd']:+.3f}; {seeds_phrase(r['seeds'], r['kd_seeds'])}; "
             f"{macro_phrase(r['macro'])}). Per language (exploratory): significantly better on "
             f"{len(r['better'])} ({', '.join(r['better']) or '–'}), worse on {len(r['worse'])} "
             f"({', '.join(r['worse']) or '–'}) of {r['n']} languages (Holm, α = {alpha})."
             for r in against_kd(tested, readouts, alpha)]
    return "\n".join(lines) if lines else "No student was tested against KD."


def budget_sentence(results: dict[str, dict]) -> str:
    """Markdown: for each student of a dev study, the step its selection criterion (AfriQA dev MRR@10) chose out of
    the steps it ran, and the change of both dev criteria over the last evaluation interval: did dev or the budget
    end training?"""
    lines = []
    for name, result in results.items():
        history, steps = result["training"]["dev_history"], result["training"]["steps"]
        best = best_evaluation(history)
        change = ""
        if len(history) > 1:
            last, before = history[-1], history[-2]
            second = f", bitext dev {last['bitext'] - before['bitext']:+.3f}" if "bitext" in last else ""
            change = (f"; over the last {steps - before['step']} steps the selection criterion moved "
                      f"{last['macro'] - before['macro']:+.3f}{second}")
        budget = result["training"].get("config", {}).get("max_steps")
        early = f" (stopped early by patience; budget {budget})" if budget and steps < budget else ""
        lines.append(f"* {alias(name)}: selected step {best['step']} of {steps}{early}{change}.")
    last = sum(best_evaluation(r["training"]["dev_history"])["step"] == r["training"]["steps"]
               for r in results.values())
    verdict = (f"{last} of {len(results)} students select their last step: the budget, not dev, ended their training."
               if last else "Every student's selection criterion peaked before its last step.")
    return "\n".join(lines + ["", verdict])


def past_budget_sentence(results: dict[str, dict], budget: int) -> str:
    """Markdown: for each student of a learning curve, its best AfriQA dev MRR@10 within ``budget`` steps (what a
    study trained for ``budget`` steps keeps) and its best over the whole curve: what training past the budget
    bought on dev."""
    lines = []
    for name, result in results.items():
        history = result["training"]["dev_history"]
        within = [h for h in history if h["step"] <= budget]
        if not within:
            raise ValueError(f"{name}: no dev evaluation at or before step {budget}; the curve cannot say what "
                             f"training past it bought")
        short, best = best_evaluation(within), best_evaluation(history)
        lines.append(f"* {alias(name)}: best dev {short['macro']:.3f} within {budget:,} steps (step {short['step']:,}),"
                     f" {best['macro']:.3f} at step {best['step']:,} of {result['training']['steps']:,}: "
                     f"{best['macro'] - short['macro']:+.3f} past the budget.")
    return "\n".join(lines)


def best_per_family(results: dict[str, dict], families: tuple[str, ...] = ("kd", "ot")) -> dict[str, tuple]:
    """The best variant of each family of a dev study by :func:`optical.study_spec.dev_seed_means` (what a ``best_of``
    rule picks; a family without a result is left out): ``{family: (name, score)}``."""
    from optical.study_spec import dev_seed_means, in_family

    score, out = dev_seed_means(results), {}
    for family in families:
        if members := {n: v for n, v in score.items() if in_family(n, family)}:
            best = max(members, key=members.get)
            out[family] = (best, members[best])
    return out


def dev_choice_sentence(results: dict[str, dict], families: tuple[str, ...] = ("kd", "ot"),
                        twin: str | None = "-frozen") -> str:
    """Markdown: the best variant of each family on a dev study (:func:`best_per_family`) and, for each variant
    with a twin ``<variant><twin>``, what the twin changes on dev."""
    from optical.study_spec import twin_scores

    parts = [f"the best {family.upper()} variant is {alias(name)} ({score:.3f})"
             for family, (name, score) in best_per_family(results, families).items()]
    lines = [f"On dev (macro MRR@10, mean over seeds), {' and '.join(parts)}." if parts else ""]
    lines += [f"{alias(name + twin)} vs {alias(name)}: dev {other - base:+.3f}."
              for name, (base, other) in (twin_scores(results, twin) if twin else {}).items()]
    return " ".join(line for line in lines if line)


def zero_shot_dev_sentence(space: dict, languages: list[str]) -> str:
    """Markdown: the encoder of a closed-form space with no map (``identity``: zero-shot, no training) on the dev
    queries of ``languages``, macro MRR@10: the dev floor a dev study's students start from."""
    reads = space["reads"]["dev"]
    cells = next(iter(reads.values()))["identity"]["languages"]
    have = [lang for lang in languages if lang in cells]
    if not have:
        return ""
    macro = sum(cells[lang]["MRR@10"] for lang in have) / len(have)
    return (f"Before any training step, {space['spec']['query_encoder']} alone (zero-shot) scores {macro:.3f} macro "
            f"dev MRR@10 on {', '.join(have)} (the closed-form study's identity read).")


def longer_budget_sentence(short: dict[str, dict], long: dict[str, dict]) -> str:
    """Markdown: each student of a longer dev study (``long``) against the same variant at the shorter budget
    (``short``): the best AfriQA dev MRR@10 and its step in each run, MAFAND dev at that step, and the longer run's
    AfriQA dev at the shorter run's last step (where its learning rate is still higher: the linear schedule ends at
    each run's own ``max_steps``). Did the longer budget pay, on dev?"""
    lines = []
    for name, result in long.items():
        if name not in short:
            continue
        a, b = (best_evaluation(r["training"]["dev_history"]) for r in (short[name], result))
        steps_a, steps_b = short[name]["training"]["steps"], result["training"]["steps"]
        bitext = f"; bitext dev there {a['bitext']:.3f} → {b['bitext']:.3f}" if "bitext" in a and "bitext" in b \
            else ""
        same = next((h for h in result["training"]["dev_history"] if h["step"] == steps_a), None)
        at_short = f"; at step {steps_a} the longer run had {same['macro']:.3f}" if same else ""
        lines.append(f"* {alias(name)}: best AfriQA dev MRR@10 {a['macro']:.3f} at step {a['step']} of {steps_a} → "
                     f"{b['macro']:.3f} at step {b['step']} of {steps_b} (Δ {b['macro'] - a['macro']:+.3f})"
                     f"{bitext}{at_short}.")
    return "\n".join(lines) if lines else "No student of the longer study has a shorter run to compare with."


def family_macro(tested: dict[str, dict], readout: str = "pooled") -> dict[str, float]:
    """``{"KD": …, "OT": …}``: the test macro MRR@10 of a study's KD and OT students in ``readout`` (seed means, as
    stored), from its test reads ``tested``."""
    from optical.report.labels import FAMILY_NAMES, family

    return {FAMILY_NAMES[family(name)]: r["macro"]["MRR@10"] for name, r in tested.items()
            if name.endswith(f"-{readout}") and family(name) in ("kd", "ot")}


def on_l_queries(results: dict[str, dict]) -> dict[str, dict]:
    """The closed-form spaces of ``results`` read on the queries in L (the training-free baselines), without those
    read on the English translations (``queries: english``: a map's ceiling, not a baseline)."""
    return {space: r for space, r in results.items() if r["spec"].get("queries", "l") == "l"}


def closed_form_sentence(results: dict[str, dict], students: dict[str, dict] | None = None) -> str:
    """Markdown: per space, the dev-chosen map against zero-shot on test; with ``students`` (final reads of the
    fair test, pooled) how much of the distilled students' gain over the floor it already gives."""
    lines = []
    for result in results.values():
        b = best_closed_form(result)
        spec = result.get("spec", {})
        cross = spec.get("query_encoder", "") != spec.get("target_encoder", "")
        line = (f"* **{b['space']}**: the best map on dev is `{b['map']}` fit on {b['size']:,} pairs per language "
                f"(dev {b['dev']:.3f}); on test it gives {b['test']:.3f}"
                + (" (the queries' encoder differs from the passages': no zero-shot read without a map)." if cross
                   else f" against {b['zero_shot']:.3f} zero-shot ({b['test'] - b['zero_shot']:+.3f})."))
        if students and b["space"] == "minilm":
            floor = b["zero_shot"]
            for name, r in students.items():
                gain = r["macro"]["MRR@10"] - floor
                if gain > 0:
                    line += (f" The distilled student {name} ({r['macro']['MRR@10']:.3f}) gains {gain:+.3f} over the "
                             f"same floor; the map alone gives {(b['test'] - floor) / gain:.0%} of that.")
        lines.append(line)
    return "\n".join(lines)


def against_maps_sentence(result: dict) -> str:
    """Markdown: whether each final student is ahead of its encoder's dev-chosen training-free map
    (:func:`optical.studies.closed_form.students_against_maps`), by a 95% CI that excludes 0."""
    from optical.eval.macro import describe
    from optical.report.labels import display_name

    rows = result["rows"]
    ahead = [r for r in rows if r["test"]["ci"][0] > 0]
    lines = [f"Against the best training-free map of its own encoder (chosen on dev; pooled readout, test), "
             f"{len(ahead)} of {len(rows)} final students are ahead by a 95% CI that excludes 0:"]
    lines += [f"* {r['arm']}, {display_name(r['student'].removesuffix('-pooled'))} against `{r['map']}` "
              f"({r['size']:,} pairs): {describe(r['test'], 'student', 'map')}." for r in rows]
    return "\n".join(lines)


def e5s_start_sentence(results: dict[str, dict]) -> str:
    """Markdown: OPTICAL's e5s student before any step: the best linear map (chosen on dev) from mE5's query
    vectors into MiniLM's space, fit on English sentences only vs on bitext pairs, next to the MiniLM floor and
    mE5-small alone (:func:`optical.studies.closed_form.closed_form_maps`), and whether any map reaches the floor;
    with the spaces ``me5-en-to-minilm-ceiling`` and ``minilm-ceiling``, the English-fit map on the English
    translations of the queries against MiniLM's own read of them (its ``identity``)."""
    wanted = {"me5-en-to-minilm": "fit on English sentences (as the first multilingual comparison's projection)",
              "me5-to-minilm": "fit on bitext pairs (L → English)"}
    if not set(wanted) <= set(results) or not {"minilm", "me5"} <= set(results):
        return ("The spaces `minilm`, `me5`, `me5-en-to-minilm` and `me5-to-minilm` are not all in this run's "
                "parameters (`closed_form.spaces`).")
    best = {space: best_closed_form(results[space]) for space in (*wanted, "minilm", "me5")}

    def identity(space: str, split: str) -> float:
        by_size = results[space]["reads"][split]
        return by_size[max(by_size, key=int)]["identity"]["macro"]["MRR@10"]

    lines = [f"* the best map {how}: `{best[space]['map']}` on {best[space]['size']:,} pairs per language, dev "
             f"{best[space]['dev']:.3f}, test {best[space]['test']:.3f} macro MRR@10;" for space, how in wanted.items()]
    floor_dev = identity("minilm", "dev")
    lines += [f"* the MiniLM floor (no map): dev {floor_dev:.3f}, test {identity('minilm', 'test'):.3f};",
              f"* mE5-small alone, in its own space: dev {identity('me5', 'dev'):.3f}, test "
              f"{identity('me5', 'test'):.3f}."]
    ceiling = best_closed_form(results["me5-en-to-minilm-ceiling"]) \
        if {"me5-en-to-minilm-ceiling", "minilm-ceiling"} <= set(results) else None
    if ceiling:
        lines[-1] = lines[-1].removesuffix(".") + ";"
        lines.append(f"* the English-fit map applied to mE5's vectors of the human English translations of the "
                     f"queries (the projection's ceiling): `{ceiling['map']}` on {ceiling['size']:,} pairs, dev "
                     f"{ceiling['dev']:.3f}, test {ceiling['test']:.3f}, where MiniLM itself on the translations "
                     f"scores dev {identity('minilm-ceiling', 'dev'):.3f}, test "
                     f"{identity('minilm-ceiling', 'test'):.3f}.")
    reached = max(best[space]["dev"] for space in wanted) >= floor_dev
    lines += ["", "Fitting the map on pairs instead of English sentences " + (
        "helps" if best["me5-to-minilm"]["dev"] > best["me5-en-to-minilm"]["dev"] else "does not help") + ", but "
        + ("a linear map carries mE5's queries into MiniLM's space at least as well as the floor." if reached else
           "no linear map carries mE5's queries into MiniLM's space as well as MiniLM itself does on the L query: "
           "the student starts below its floor: what mE5 knows across languages is lost in the projection before any "
           "training step, and training has to win it back.")]
    if ceiling:
        share = ceiling["test"] / identity("minilm-ceiling", "test")
        lines[-1] += (f" The map is the bottleneck even without a language gap: on the English translations it keeps "
                      f"{share:.0%} of MiniLM's own test score, so the student has to rebuild MiniLM's query space "
                      "as well as learn the language.")
    return "\n".join(lines)


def tuning_budget_rows(studies: dict[str, dict[str, dict]], declared: dict[str, list[str]],
                       families: tuple[str, ...] = ("kd", "ot"), at_step: int = 250) -> list[dict]:
    """Every variant each family was tried in, over the dev studies ``studies`` (``{study: its stored results}``,
    on the same dev protocol): family, variant, study, step budget, dev macro MRR@10 at ``at_step`` (from its dev
    curve) and at its selected step, and its rank in its family by the selected score (what a ``best_of`` rule
    reads). A student ``declared`` for a study (``{study: [variants]}``) without a stored result is a row with no
    scores, so the table says what is still to run. Contrastive KD is a family of its own."""
    from optical.study_spec import in_family

    rows = []
    for study, results in studies.items():
        for name in dict.fromkeys([*declared.get(study, []), *results]):
            family = next((f for f in families if in_family(name, f)), None)
            if family is None:
                continue
            row = {"family": family, "variant": name, "study": study, "steps": None, f"dev @{at_step}": None,
                   "dev (selected)": None, "selected step": None}
            if (result := results.get(name)) and "training" in result:
                history = result["training"]["dev_history"]
                best = best_evaluation(history)
                row.update({"steps": result["training"]["config"]["max_steps"],
                            f"dev @{at_step}": next((h["macro"] for h in history if h["step"] == at_step), None),
                            "dev (selected)": best["macro"], "selected step": best["step"]})
            rows.append(row)
    for family in families:
        ranked = sorted((r for r in rows if r["family"] == family and r["dev (selected)"] is not None),
                        key=lambda r: -r["dev (selected)"])
        for rank, row in enumerate(ranked, 1):
            row["rank"] = rank
    return rows


def ranking_stable(rows: list[dict], family: str, at_step: int = 250) -> bool | None:
    """Whether the variants of ``family`` that ran past ``at_step`` rank the same at ``at_step`` as at their selected
    step (``None`` with fewer than two such variants)."""
    ran = [r for r in rows if r["family"] == family and r[f"dev @{at_step}"] is not None
           and (r["steps"] or 0) > at_step]
    if len(ran) < 2:
        return None
    order = lambda key: [r["variant"] for r in sorted(ran, key=lambda r: -r[key])]  # noqa: E731
    return order(f"dev @{at_step}") == order("dev (selected)")


def past_budget_lines(results_root: str | Path, key: str) -> list[str]:
    """Markdown lines: what arm ``key``'s learning curve (study ``<key>_curves``) bought on dev past the budget of
    the arm's test study (the most steps its training cards allowed); none until both have run."""
    root = Path(results_root)
    curve = {k: r for k, r in read_json_folder(root / f"{key}_curves").items() if "training" in r}
    cards = [r["training"] for r in read_json_folder(root / key).values() if "training" in r]
    if not curve or not cards:
        return []
    budget = max(c["config"]["max_steps"] for c in cards)
    first = next(iter(curve.values()))
    again = (f"the test was read again at the curve's budget, `{key}_long`" if read_json_folder(root / f"{key}_long"
                                                                                               / "test")
             else "the test was not read at a longer budget")
    return [f"Past the budget of {budget:,} steps, on dev only (the arm's learning curve: "
            f"{', '.join(first['languages'])}, seed {first['training']['config']['seed']}, up to "
            f"{first['training']['config']['max_steps']:,} steps; {again}):", "",
            past_budget_sentence(curve, budget), ""]
