"""The multilingual arms' answers (the conclusions and `12_multilingual_fair`), generated from the stored results."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from optical.eval.macro import describe
from optical.io import read_json_folder
from optical.report.labels import ALIASES, alias, legend_markdown
from optical.report.summary import against_kd, best_per_family, past_budget_sentence, seeds_phrase


READOUTS = {"pooled": "pooled (the mean token vector, the student's sentence embedding)",
            "maxsim": "MaxSim (late interaction: student query tokens against teacher passage tokens)"}


def _budget_line(root: Path, key: str) -> str:
    """One line of compute: students trained for study ``key``, their steps and wall time (training cards)."""
    cards = [r["training"] for r in read_json_folder(root / key).values() if "training" in r]
    if not cards:
        return ""
    steps = {c["config"]["max_steps"] for c in cards}
    hours = sum(c["wall_s"] for c in cards) / 3600
    devices = ", ".join(sorted({c["device"] for c in cards}))
    return (f"Compute: {len(cards)} students of at most {max(steps):,} steps of {cards[0]['config']['batch_size']} "
            f"pairs, each kept at its best dev step; {hours:.1f} h of training in all ({devices}).")


def _ordered(rows: list[dict]) -> list[dict]:
    """Rows in the legend's order (KD's variants, then OT★, the mixes…), unknown names last."""
    order = list(ALIASES)
    return sorted(rows, key=lambda r: (order + [r["name"]]).index(r["name"]))


def _readout_lines(tested: dict[str, dict], rows: list[dict], readouts: list[str]) -> list[str]:
    """A bullet per readout: KD's macro test MRR@10, then each student's difference, 95% CI and verdict."""
    lines = []
    for readout in readouts:
        mine = [r for r in rows if r["readout"] == readout]
        if not mine:
            continue
        parts = [f"{alias(r['name'])} {r['score'] - r['kd']:+.3f}"
                 + (f" [{r['macro']['ci'][0]:+.3f}, {r['macro']['ci'][1]:+.3f}], **{describe(r['macro'])}**"
                    if r["macro"] else "") for r in mine]
        lines.append(f"* {READOUTS[readout]}, {alias(mine[0]['kd_name'])} {mine[0]['kd']:.3f}: "
                     + "; ".join(parts) + ".")
    return lines


def _score_table(tested: dict[str, dict], names: list[str], readouts: list[str], labels: dict[str, str]) -> list[str]:
    """Markdown rows: test macro MRR@10 of each system in each readout (seed means, their number of seeds);
    ``labels`` names a row where the alias would not (a floor of another teacher)."""
    lines = ["| test macro MRR@10 | " + " | ".join(readouts) + " |", "|---|" + "---|" * len(readouts)]
    for name in names:
        cells = [tested.get(f"{name}-{r}") for r in readouts]
        seeds = len(cells[0].get("seeds", [])) if cells[0] else 0
        label = labels.get(name, alias(name)) + (f" ({seeds} seeds)" if seeds > 1 else "")
        lines.append(f"| {label} | " + " | ".join(f"{c['macro']['MRR@10']:.3f}" if c else "–" for c in cells) + " |")
    return lines


MULTILINGUAL_ARMS = (
    ("e5t", "e5t_dev", "mE5-small teacher, its copy as student (e5t)",
     {"teacher": "floor: mE5-small on the query in L (zero-shot)",
      "ceiling": "ceiling: mE5-small on the human English translation"}),
    ("e5s", "e5s_dev", "all-MiniLM-L6-v2 teacher, mE5-small student (e5s, OPTICAL's own setting)",
     {"teacher": "floor: all-MiniLM-L6-v2 on the query in L", "ceiling": "ceiling: all-MiniLM-L6-v2 on the "
                                                                        "human English translation"}))
"""The multilingual arms (`12_multilingual_fair`): study key, its dev study's key, who teaches whom, and the labels of
their floor and ceiling."""
ArmReading = tuple[str, dict[str, dict], list[dict]]
"""What :func:`arm_reading` returns: the study that answers an arm, its test reads, each student's comparison with
KD."""
SHORT_WHO = {"e5t": "mE5-small student taught by mE5-small (e5t)",
             "e5s": "mE5-small student taught by all-MiniLM-L6-v2 (e5s, OPTICAL's own setting)"}
"""How the one-sentence answer names each multilingual arm's student."""


def multilingual_answer(root: Path, declared: Collection[str] = ()) -> list[str]:
    """Markdown lines: each multilingual arm's final reading against its KD student (as for the MiniLM student),
    or that it has not been read on test under the fair protocol. ``declared`` names the arms' studies that the
    parameters declare (:func:`declared_studies`): an arm whose answer at its learning curve's budget
    (``<arm>_long``) is declared and read gives that one; else, for an arm whose learning curve (``<arm>_curves``) is
    declared and has run, what training past the test study's budget bought on dev."""
    return _multilingual_lines(root, arm_readings(root, declared), declared)


def arm_readings(root: Path, declared: Collection[str]) -> dict[str, ArmReading]:
    """:func:`arm_reading` of every multilingual arm, by arm key."""
    return {key: arm_reading(root, key, declared) for key, *_ in MULTILINGUAL_ARMS}


def _multilingual_lines(root: Path, readings: Mapping[str, ArmReading],
                        declared: Collection[str]) -> list[str]:
    """:func:`multilingual_answer` from the arms' readings (:func:`arm_readings`), computed once per build."""
    lines = ["### Multilingual students", ""]
    for key, dev, who, labels in MULTILINGUAL_ARMS:
        study, tested, rows = readings[key]
        if not rows:
            trained = {k: r for k, r in read_json_folder(root / dev).items() if "training" in r}
            best = best_per_family(trained)
            chosen = " and ".join(f"{alias(name)} ({score:.3f})" for name, score in best.values())
            done = (f"its dev study (`{dev}`; {len(trained[next(iter(trained))]['languages'])} languages, macro dev "
                    f"MRR@10) has {len(trained)} student{'s' * (len(trained) > 1)}: its rules choose {chosen}; "
                    "these are " if trained else "")
            lines += [f"**{who}**: {done}not read on test under the fair protocol yet (see the limitations and "
                      "{doc}`/book/executed/12_multilingual_fair`).", ""]
            if legend := legend_markdown([name for name, _ in best.values()]):
                lines += [legend, ""]
            continue
        readouts = [r for r in READOUTS if any(row["readout"] == r for row in rows)]
        kd = rows[0]["kd_name"]
        budget = "at the budget its learning curve chose; " if study != key else ""
        n = len(tested[kd + '-' + readouts[0]]['languages'])
        lines += [f"**{who}** ({n} language{'s' * (n != 1)}; {_seeds_of(rows)}; "
                  f"{budget}options chosen on dev, each student kept at its best dev step, margin fixed before the "
                  "test read):", "",
                  *_readout_lines(tested, rows, readouts), "",
                  *_score_table(tested, ["teacher", kd, *dict.fromkeys(r["name"] for r in rows), "ceiling"],
                                readouts, labels), "",
                  legend_markdown([kd, *(r["name"] for r in rows)]), "", _budget_line(root, study), ""]
        if study != key:
            lines += [f"The arm's first answer, at the CPU's budget (`{key}`), and its learning curve are in "
                      "{doc}`/book/executed/12_multilingual_fair`.", ""]
        elif f"{key}_curves" in declared:
            lines += past_budget_lines(root, key)
    return lines


def declared_studies(params: Mapping) -> list[str]:
    """The multilingual arms' learning curves and answers at the curves' budget (``<arm>_curves``, ``<arm>_long``,
    `12_multilingual_fair`) that ``params`` declares."""
    return [f"{key}_{kind}" for key, *_ in MULTILINGUAL_ARMS for kind in ("curves", "long")
            if params.get(f"{key}_{kind}")]


def arm_reading(root: Path, key: str, declared: Collection[str]) -> ArmReading:
    """The study that answers multilingual arm ``key``, its test reads and each student's comparison with KD
    (:func:`against_kd`, every readout, KD's students first): its answer at its learning curve's budget
    (``<key>_long``) when declared and read on test, else its answer at the CPU's budget (``key``)."""
    long = f"{key}_long"
    tested = read_json_folder(root / long / "test") if long in declared else {}
    study = long if tested else key
    tested = tested or read_json_folder(root / key / "test")
    return study, tested, _ordered(against_kd(tested, list(READOUTS)))


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


def _seeds_of(rows: list[dict]) -> str:
    """How many seeds each student's comparison with KD averages, students with the same count named together:
    "OT κ.5 ctr-fz: mean of 3 seeds each; OT κ.5 ctr-fz+KD and token-KD-fz: 1 seed vs KD's 3 (their CI counts
    KD's seed variance only)"; the names are left out when every student has the same count."""
    groups: dict[tuple[int, int], dict[str, None]] = {}
    for r in rows:
        groups.setdefault((r["seeds"], r["kd_seeds"]), {})[alias(r["name"])] = None
    if len(groups) == 1:
        return seeds_phrase(*next(iter(groups)))
    return "; ".join(f"{' and '.join(names)}: {seeds_phrase(seeds, kd_seeds)}"
                     + (" (their CI counts KD's seed variance only)" if seeds == 1 < kd_seeds else "")
                     for (seeds, kd_seeds), names in groups.items())
