"""Names, short aliases and colours of systems: one place for every table, figure and page (no chapter picks its own).

A system name may carry a seed (``-seed<k>``) and a readout (``-pooled``/``-maxsim``); neither changes its colour,
so a method has one colour in every chapter.
"""

from __future__ import annotations

import re

SYSTEM_LABELS = {
    "teacher": "floor: MiniLM on L query",
    "ceiling": "ceiling: MiniLM on human EN translation",
    "bm25": "BM25 on L query",
    "e5": "mE5-small (q4) on L query",
    "kd": "KD-MSE student",
    "token-kd": "hard-aligned token-KD student",
    "ot": "OT student (OPTICAL)",
    "ot+kd": "OT + KD student",
    "e5-torch": "mE5-small (torch, from the q4 file) on L query",
    "e5s-kd": "KD-MSE student from mE5, MiniLM teacher",
    "e5s-ot": "OT student from mE5, MiniLM teacher",
    "e5t-kd": "KD-MSE student, mE5 teacher",
    "e5t-ot": "OT student, mE5 teacher",
}
"""Long labels of the systems of the notebooks `01_baselines` to `07_multilingual` (row names of their tables)."""

ALIASES = {
    "teacher": ("floor", "all-MiniLM-L6-v2 on the query in L (no training)"),
    "ceiling": ("ceiling", "all-MiniLM-L6-v2 on the human English translation of the query"),
    "kd": ("KD", "knowledge distillation: MSE between student and teacher sentence vectors"),
    "kd-cosine": ("KD-cos", "knowledge distillation with 1 − cos between sentence vectors"),
    "ot": ("OT ε.05", "OT distillation, ε 0.05, uniform token masses"),
    "ot-eps0.01-annealed-idf": ("OT★", "OT distillation, ε 0.01 annealed from 0.5, IDF token masses "
                                       "(chosen on dev)"),
    "ot+kd-cos-1": ("OT+KD", "OT (ε 0.05, uniform masses) + cosine KD, weights 1 : 1 (chosen on dev)"),
    "ot+kd-cos-3": ("3·OT+KD", "OT (ε 0.05) + cosine KD, weights 3 : 1"),
    "token-kd": ("token-KD", "hard-aligned token KD: greedy one-to-one token matching, MSE on matched tokens"),
    "ot-rel0.5": ("OT κ.5", "OT distillation, ε = 0.5 × sd of the batch's informative (double-centred) cost"),
    "ot-eps0.01-annealed-idf-iter500": ("OT★ 500it", "OT★ with up to 500 Sinkhorn iterations instead of 100"),
    "ot-rel0.5-debias": ("OT κ.5 deb", "OT κ.5 with the Sinkhorn divergence (entropic bias removed)"),
    "ot-raw-all-rel0.5": ("OT κ.5 raw", "OT κ.5 on squared Euclidean costs of raw tokens, [CLS]/[SEP] included"),
    "kd-frozen": ("KD-fz", "KD with the student's word embeddings frozen"),
    "ot-frozen": ("OT ε.05-fz", "OT ε 0.05, uniform masses, word embeddings frozen"),
    "ot-rel0.5-frozen": ("OT κ.5-fz", "OT κ 0.5 (ε relative to the cost's spread), word embeddings frozen"),
    "ot-rel0.1-frozen": ("OT κ.1-fz", "OT κ 0.1, word embeddings frozen"),
    "ot-rel0.5-idf-frozen": ("OT κ.5 IDF-fz", "OT κ 0.5, IDF token masses, word embeddings frozen"),
    "ot-rel0.5-center-frozen": ("OT κ.5 ctr-fz", "OT κ 0.5, each side's mean token removed, word embeddings "
                                                 "frozen"),
    "ot-rel0.1-annealed-idf-frozen": ("OT★κ-fz", "OT★'s recipe with ε relative: κ 0.1, annealed from 0.5, IDF "
                                                "masses, word embeddings frozen"),
    "kd-frozen-proj-en": ("KD-fz P-en", "KD-fz, mE5 student projected into MiniLM's space by a map fitted on "
                                        "English sentences"),
    "kd-frozen-proj-pairs": ("KD-fz P-pairs", "KD-fz, the projection fitted on the bitext pairs (L onto English)"),
    "ot-rel0.5-frozen-proj-en": ("OT κ.5-fz P-en", "OT κ.5-fz, the projection fitted on English sentences"),
    "ot-rel0.5-frozen-proj-pairs": ("OT κ.5-fz P-pairs", "OT κ.5-fz, the projection fitted on the bitext pairs"),
    "ot-rel0.5-center-frozen-proj-en": ("OT κ.5 ctr-fz P-en", "OT κ.5 ctr-fz, the projection fitted on English "
                                        "sentences"),
    "kd-frozen-proj-en-lr5e-4": ("KD-fz P-en lr×5", "KD-fz P-en at learning rate 5e-4 instead of 1e-4"),
    "ot-rel0.5-center-frozen-proj-en-lr5e-4": ("OT κ.5 ctr-fz P-en lr×5", "OT κ.5 ctr-fz P-en at learning rate "
                                               "5e-4 instead of 1e-4"),
    "ot+kd-rel0.5-center-frozen": ("OT κ.5 ctr-fz+KD", "OT κ.5 ctr-fz + cosine KD, weights 1 : 1"),
    "token-kd-frozen": ("token-KD-fz", "token-KD with the student's word embeddings frozen"),
    "kd-frozen-lr5e-5": ("KD-fz lr×½", "KD-fz at learning rate 5e-5 instead of 1e-4"),
    "kd-frozen-lr2e-4": ("KD-fz lr×2", "KD-fz at learning rate 2e-4 instead of 1e-4"),
    "kd-frozen-lr5e-4": ("KD-fz lr×5", "KD-fz at learning rate 5e-4 instead of 1e-4"),
    "kd-frozen-cosine": ("KD-cos-fz", "KD-fz with 1 − cos between sentence vectors instead of MSE"),
    "kd-frozen-center": ("KD-fz ctr", "KD-fz on centred sentence vectors (each side's batch mean removed: OT's "
                                      "centring carried over)"),
    "kd-combined": ("KD combined", "KD-fz with every change that beat it on dev, together (the combination rule)"),
    "contrastive-kd-frozen-t0.05": ("CKD-fz τ.05", "contrastive KD (InfoNCE against the teacher's English vectors, "
                                                   "in-batch negatives), temperature 0.05, word embeddings frozen"),
    "contrastive-kd-frozen-t0.02": ("CKD-fz τ.02", "contrastive KD-fz at temperature 0.02"),
}
"""Short alias and its definition, by variant name: the legend every table with aliases points to."""

FAMILY_COLOURS = {"kd": "#1f77b4", "ot": "#d62728", "ot+kd": "#ff7f0e", "token-kd": "#9467bd",
                  "contrastive-kd": "#2ca02c", "teacher": "#7f7f7f", "ceiling": "#2f2f2f", "bm25": "#bcbd22",
                  "e5": "#17becf", "translate-test": "#8c564b", "map": "#8c6d31"}
"""One colour per family in every chapter: KD blue, OT red, OT + KD orange, token-KD purple, contrastive KD green,
the floor grey, the ceiling near-black; variants of one family differ by line style and marker, not colour."""


FAMILY_NAMES = {"kd": "KD", "ot": "OT", "contrastive-kd": "Contrastive KD"}
"""A family of students in words (tables, legends, sentences)."""


FIRST_OT_ABLATIONS = {"eps-0.02", "eps-0.05", "eps-0.2", "idf-marginals", "autodiff", "unbalanced-1.0", "all-tokens"}
"""The OT variants of the first comparison's ablations (``ablations`` in ``params/appendix.yaml``), named by the
option they change rather than by their loss."""


def family(name: str) -> str:
    """The family of a system (seed, readout and any note ignored): a baseline's own name, else ``ot+kd``,
    ``token-kd``, ``contrastive-kd``, ``kd`` or ``ot`` by its variant name (``e5t-kd`` is KD), else ``map``."""
    key = base_name(name)
    if key in FAMILY_COLOURS or key == "e5-torch":
        return "e5" if key == "e5-torch" else key
    key = re.sub(r"^e5[st]-", "", key)
    if key in FIRST_OT_ABLATIONS:
        return "ot"
    for prefix in ("ot+kd", "token-kd", "contrastive-kd", "kd", "ot"):
        if key.startswith(prefix):
            return prefix
    return "map"


def base_name(name: str) -> str:
    """``name`` without a parenthesised note, its readout suffix and its seed (``kd-seed2-maxsim`` → ``kd``)."""
    name = re.sub(r"\s*\(.*\)$", "", name)  # a label such as "kd (2,000 steps)"
    for suffix in ("-pooled", "-maxsim"):
        name = name.removesuffix(suffix)
    return re.sub(r"-seed\d+$", "", name)


def system_colour(name: str) -> str:
    """The colour of a system's family (:data:`FAMILY_COLOURS`; seed and readout ignored; a display name, alias or
    long label maps back to its system): the same in every chapter."""
    label = re.sub(r" \(seed \d+\)$", "", name.split(" · ")[0])  # a display name: its alias or long label
    names = {**{label: k for k, label in SYSTEM_LABELS.items()}, **{short: k for k, (short, _) in ALIASES.items()}}
    return FAMILY_COLOURS[family(names.get(label, name))]


def alias(name: str) -> str:
    """The short alias of a system (``ALIASES``), with its seed if the name carries one; else the name."""
    base = base_name(name)
    seed = re.search(r"-seed(\d+)", name)
    short = ALIASES[base][0] if base in ALIASES else base
    return f"{short} (seed {seed.group(1)})" if seed else short


def display_name(name: str) -> str:
    """A row label: the alias with its seed and readout (``ot-eps0.01-annealed-idf-seed2-maxsim`` →
    ``OT★ (seed 2) · maxsim``) for a variant with an alias, else the long label of a first-comparison system, else
    the name."""
    if base_name(name) not in ALIASES:
        return SYSTEM_LABELS.get(name, name)
    readout = next((r for r in ("pooled", "maxsim") if name.endswith("-" + r)), None)
    return alias(name) + (f" · {readout}" if readout else "")


def legend_markdown(names: list[str], teacher: str | None = None) -> str:
    """A Markdown table defining the aliases of ``names`` (each base name once, in the order given); the floor and
    ceiling are defined with ``teacher`` where given (default: the English MiniLM teacher)."""
    bases = list(dict.fromkeys(base_name(n) for n in names if base_name(n) in ALIASES))

    def definition(base: str) -> str:
        text = ALIASES[base][1]
        return text.replace("all-MiniLM-L6-v2", teacher) if teacher and base in ("teacher", "ceiling") else text

    rows = [f"| {ALIASES[b][0]} | `{b}` | {definition(b)} |" for b in bases]
    return "\n".join(["| alias | variant | definition |", "|---|---|---|", *rows]) if rows else ""
