"""Matplotlib figures for the notebooks.

Every figure is at most :data:`WIDTH` inches wide at 100 dpi, about the book's text column at 1280 px, so it is
shown at its own size and its text (10 pt, legends 9 pt) stays at least 9 pt on the page; several panels wrap into
rows of two. Colours are the families' (:func:`optical.report.labels.system_colour`); variants of one family differ
by line style and marker (:func:`variant_styles`)."""

from __future__ import annotations

import re
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from optical.report.labels import FAMILY_COLOURS, display_name, system_colour

WIDTH = 7.5
"""Inches: the widest figure (750 px at 100 dpi)."""
plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.titlesize": 10,
                     "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9})
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D")


def variant_styles(names: list[str]) -> dict[str, tuple[str, str, str]]:
    """``{name: (colour, line style, marker)}``: the family's colour, and within a family the next line style and
    marker, so no two lines of a figure look alike (up to 16 per family)."""
    seen: dict[str, int] = {}
    out = {}
    for name in names:
        colour = system_colour(name)
        i = seen.get(colour, 0)
        out[name] = (colour, LINE_STYLES[i % 4], MARKERS[(i // 4) % 4])
        seen[colour] = i + 1
    return out


def _panels(n: int, height: float = 3.0):
    """A figure of ``n`` panels in rows of two (one panel: full width), and its axes in reading order."""
    cols = 1 if n == 1 else 2
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


HATCHES = ("", "//", "..", "xx", "\\\\", "--", "oo", "++")
"""Bar hatchings, one per system of the same colour in a :func:`grouped_bars` figure."""


def grouped_bars(table: pd.DataFrame, ylabel: str, title: str, ax=None):
    """One group of bars per column (language), one bar per row (system), each system in its family's colour;
    systems that share a colour differ by hatching (:data:`HATCHES`, in row order)."""
    ax = ax or plt.subplots(figsize=(WIDTH, 3.6))[1]
    n = len(table.index)
    width = 0.8 / n
    x = np.arange(len(table.columns))
    seen: dict[str, int] = {}
    for i, (name, row) in enumerate(table.iterrows()):
        colour = system_colour(name)
        hatch = HATCHES[seen.get(colour, 0) % len(HATCHES)]
        seen[colour] = seen.get(colour, 0) + 1
        ax.bar(x + (i - (n - 1) / 2) * width, row.values, width, label=name, color=colour, hatch=hatch,
               edgecolor="white", linewidth=0)
    ax.set_xticks(x, table.columns)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(0, min(1.0, float(np.nanmax(table.values)) * 1.15))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    return ax


def transport_heatmap(plan: np.ndarray, row_tokens: list[str], col_tokens: list[str], title: str, ax=None):
    """Heatmap of a plan (rows: student tokens in L, columns: teacher tokens in English), mass × n rows."""
    ax = ax or plt.subplots(figsize=(0.45 * len(col_tokens) + 2, 0.35 * len(row_tokens) + 1.5))[1]
    image = ax.imshow(plan * plan.shape[0], cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(col_tokens)), col_tokens, rotation=60, ha="right", fontsize=10)
    ax.set_yticks(range(len(row_tokens)), row_tokens, fontsize=10)
    ax.set_xlabel("teacher tokens (English)")
    ax.set_ylabel("student tokens (L)")
    ax.set_title(title, fontsize=10)
    plt.colorbar(image, ax=ax, fraction=0.04, label="share of the token's mass")
    return ax


def show_plans(examples: list[dict]) -> None:
    """Display each example of :func:`optical.studies.plans.pair_plans` as one figure, the pair above its first
    panel: one heatmap a row for the OT plan at each stage and the hard alignment of token-KD at the last stage."""
    for example in examples:
        stages = example["plans"]
        last = list(stages)[-1]
        panels = [(f"OT plan, {stage} training (cost {plans['ot_cost']:.3f})", plans["ot"])
                  for stage, plans in stages.items()]
        panels.append((f"hard alignment (token-KD), {last}", stages[last]["hard"]))
        width = min(0.45 * len(example["teacher_tokens"]) + 3, WIDTH)  # one panel a row, at most the column
        height = len(panels) * (0.3 * len(example["student_tokens"]) + 2)
        axes = np.atleast_1d(plt.subplots(len(panels), 1, figsize=(width, height))[1])
        # the pair wrapped to the figure's width: a title wider than the figure would widen the saved image, and the
        # page would shrink all of it, tick labels included
        pair = textwrap.fill(f"{example['source']}  →  {example['target']}", width=int(width * 11))
        panels[0] = (f"{pair}\n{panels[0][0]}", panels[0][1])
        for ax, (title, plan) in zip(axes, panels):
            transport_heatmap(np.array(plan), example["student_tokens"], example["teacher_tokens"], title, ax=ax)
        plt.tight_layout()
        plt.show()


def _pairs_axis(ax, sizes: list[int], xlabel: str, title: str) -> None:
    """A log-scale axis of bitext sizes, ticked at the sizes used."""
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)


def size_curves(frame: pd.DataFrame, value: str = "dev MRR@10"):
    """One panel per language: ``value`` against the number of bitext pairs, one line per loss."""
    langs = list(dict.fromkeys(frame["language"]))
    fig, axes = _panels(len(langs))
    styles = variant_styles(list(dict.fromkeys(frame["loss"])))
    for ax, lang in zip(axes, langs):
        for loss, group in frame[frame.language == lang].groupby("loss"):
            colour, line, marker = styles[loss]
            ax.plot(group.pairs, group[value], marker=marker, linestyle=line, label=loss, color=colour)
        _pairs_axis(ax, sorted(frame[frame.language == lang].pairs.unique()), "bitext pairs (log scale)", lang)
        ax.set_ylabel(value)
    axes[0].legend(title="loss")
    fig.tight_layout()
    return fig


def low_data_test(frame: pd.DataFrame, answers: dict[str, dict[str, float]] | None = None):
    """Two panels per arm (rows: arms, from :func:`optical.report.tables.low_data_test_frame`): test macro MRR@10
    against bitext pairs per language (log scale) of KD, OT and the dev-chosen training-free map, the zero-shot floor
    dashed and ``answers[panel]`` (``{"KD": …, "OT": …}``, the arm's answer on every pair) as dotted lines; and
    Δ(OT − KD) with its 95% CI, zero dashed."""
    panels = list(dict.fromkeys(frame["panel"]))
    fig, axes = plt.subplots(len(panels), 2, figsize=(WIDTH, 3.2 * len(panels)), squeeze=False)
    colours = {"KD": FAMILY_COLOURS["kd"], "OT": FAMILY_COLOURS["ot"], "map": FAMILY_COLOURS["map"],
               "floor": FAMILY_COLOURS["teacher"]}
    for (left, right), panel in zip(axes, panels):
        mine = frame[frame.panel == panel]
        students = mine[mine.system.isin(["KD", "OT"])]
        sizes = sorted(mine.pairs.unique())
        for system, marker in (("KD", "o"), ("OT", "s"), ("map", "^")):
            rows = mine[mine.system == system].sort_values("pairs")
            if len(rows):
                label = "best training-free map (dev-chosen)" if system == "map" else system
                left.plot(rows.pairs, rows["MRR@10"], marker=marker, color=colours[system], label=label)
        floor = mine[mine.system == "floor"]["MRR@10"]
        if len(floor):
            left.axhline(float(floor.mean()), color=colours["floor"], linestyle="--", label="zero-shot floor")
        for system, value in (answers or {}).get(panel, {}).items():
            left.axhline(value, color=colours[system], linestyle=":", label=f"{system}, every pair")
        _pairs_axis(left, sizes, "bitext pairs per language (log scale)", f"{panel}: test macro MRR@10")
        ot = students[(students.system == "OT") & students.delta.notna()].sort_values("pairs")
        if len(ot):
            right.errorbar(ot.pairs, ot.delta, yerr=[ot.delta - ot.ci_low, ot.ci_high - ot.delta], marker="s",
                           color=colours["OT"], capsize=4)
        right.axhline(0.0, color=colours["floor"], linestyle="--")
        _pairs_axis(right, sorted(students.pairs.unique()) or sizes, "bitext pairs per language (log scale)",
                    f"{panel}: OT − KD, test macro (95% CI)")
    labels = {}  # one legend below the panels, off the data: each line once
    for ax in axes[:, 0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            labels.setdefault(label, handle)
    fig.legend(list(labels.values()), list(labels), loc="upper center", ncols=3, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout()
    return fig


def curve_label(name: str) -> str:
    """A legend label: the variant's alias (:func:`optical.report.labels.display_name`) with its parenthesised note
    kept (``kd (2,000 steps)`` → ``KD (2,000 steps)``)."""
    note = re.search(r"\s*\(.*\)$", name)
    return display_name(name[:note.start()]) + name[note.start():] if note else display_name(name)


def learning_curves(results: dict[str, dict], criteria: dict[str, str] | None = None, title: str | None = None):
    """One panel per dev criterion (key of the dev history -> axis label), one line per variant, against steps.
    Each method keeps its colour (:func:`optical.report.labels.system_colour`); lines of the same colour (seeds of a
    variant, or one variant at two budgets) differ by line style; lines are named by alias (:func:`curve_label`).
    The legend sits below the panels; ``title`` above them."""
    criteria = criteria or {"queries": "dev queries: MRR@10 (macro)", "bitext": "held-out bitext: MRR (macro)"}
    fig, axes = _panels(len(criteria), 3.2)
    styles = variant_styles(list(results))
    for ax, (key, label) in zip(axes, criteria.items()):
        for name, result in results.items():
            history = [h for h in result["training"]["dev_history"] if key in h]
            colour, style, marker = styles[name]
            ax.plot([h["step"] for h in history], [h[key] for h in history], marker=marker, markersize=4,
                    label=curve_label(name), color=colour, linestyle=style)
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncols=min(len(labels), 3), frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def curves_by_panel(panels: dict[str, dict[str, dict]], key: str = "queries",
                    ylabel: str = "dev queries: MRR@10 (macro)"):
    """One panel per entry of ``panels`` (its title -> the dev results of one study), one line per student of dev
    criterion ``key`` against steps, in the colours and line styles of :func:`learning_curves`; one legend below."""
    fig, axes = _panels(len(panels), 2.8)
    labels: dict[str, object] = {}
    for ax, (title, results) in zip(axes, panels.items()):
        styles = variant_styles(list(results))
        for name, result in results.items():
            history = [h for h in result["training"]["dev_history"] if key in h]
            colour, style, marker = styles[name]
            line, = ax.plot([h["step"] for h in history], [h[key] for h in history], marker=marker, markersize=4,
                            color=colour, linestyle=style)
            labels.setdefault(curve_label(name), line)
        ax.set_title(title)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    fig.legend(list(labels.values()), list(labels), loc="upper center", ncols=min(len(labels), 3), frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout()
    return fig


def closed_form_curves(table: pd.DataFrame, ylabel: str):
    """One panel per space: macro MRR@10 of each map against bitext pairs per language (log scale); ``table`` is
    :func:`optical.report.tables.closed_form_table`. Legend below the panels, off the data."""
    spaces = list(dict.fromkeys(table.index.get_level_values("space")))
    fig, axes = _panels(len(spaces))
    sizes = list(table.columns)
    kinds = list(dict.fromkeys(table.index.get_level_values(-1)))
    # maps that coincide (lstsq and lstsq-centred) stay visible: every other map has a large hollow marker
    looks = {kind: (colour, LINE_STYLES[i % 2 + (kind == "identity") * 2], MARKERS[i % 4], 10 if i % 2 == 0 else 5)
             for i, (kind, colour) in enumerate(zip(kinds, plt.get_cmap("tab10").colors))}
    for ax, space in zip(axes, spaces):
        for kind, values in table.loc[space].iterrows():
            colour, line, marker, size = looks[kind]
            ax.plot(sizes, values.values, marker=marker, markersize=size, label=kind, color=colour, linestyle=line,
                    markerfacecolor="none" if size > 6 else colour, markeredgewidth=1.5)
        _pairs_axis(ax, sizes, "bitext pairs per language (log scale)", space)
        ax.set_ylabel(ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=min(len(labels), 4), frameon=False,
               bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    return fig
