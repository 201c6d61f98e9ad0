"""Transport plans of trained students on real bitext pairs: how each student token's mass spreads over the
teacher's English tokens, before and after training, beside token-KD's hard one-to-one alignment.

:func:`student_plans` reads the plans of a study's student (e.g. the OT student chosen on dev) under the OT options
it was trained with (ε or ε relative to the cost's spread, annealing, centring, IDF token masses);
:func:`alignment_examples` is `05_alignment`'s reading of the first OT student (`02_distillation`'s protocol)."""

from __future__ import annotations

import logging
from pathlib import Path

from optical import store
from optical.data.schema import with_bitext_version
from optical.data.training import student_train_params
from optical.layout import Layout

log = logging.getLogger(__name__)


def row_entropy(plan) -> float:
    """:func:`optical.losses.plan_row_entropy` of one ``(n, m)`` plan: 0 one-to-one, 1 uniform."""
    import torch

    from optical.losses import plan_row_entropy

    n, m = plan.shape
    return float(plan_row_entropy(plan[None], torch.ones(1, n, dtype=torch.bool), torch.ones(1, m, dtype=torch.bool)))


def pair_plans(students: dict, teacher, pairs: list[tuple[str, str]], max_length: int, ot_options: dict,
               idf=None) -> list[dict]:
    """For each ``(L, English)`` pair: the teacher's English content tokens and, per stage of ``students``
    (``{"before": StudentQueryEncoder, "after": …}``), the student's tokens, the OT plan ``(n, m)`` restricted to
    content tokens (options of :func:`optical.losses.ot_distillation_loss`; IDF token masses with ``idf``), its
    cost and row entropy, and the greedy hard alignment of token-KD as a plan of the same shape."""
    import torch

    from optical.losses import ot_distillation_loss
    from optical.losses.kd import greedy_matching
    from optical.transport import cosine_cost

    examples = []
    for src, tgt in pairs:
        t_out = teacher.tokens([tgt], max_length)
        t_mask = t_out.content_mask[0]
        t_tokens = teacher.model.tokenizer.convert_ids_to_tokens(t_out.input_ids[0][t_mask].tolist())
        example = {"source": src, "target": tgt, "teacher_tokens": t_tokens, "plans": {}}
        for stage, student in students.items():
            student.eval()
            with torch.no_grad():
                s_out = student([src], max_length)
                weights = (idf.student(s_out.input_ids), idf.teacher(t_out.input_ids)) if idf else (None, None)
                _, parts, res = ot_distillation_loss(s_out.tokens, s_out.content_mask, t_out.tokens, t_out.content_mask,
                                                     *weights, **{**ot_options, "grad": "detach"})
                match = greedy_matching(cosine_cost(s_out.tokens, t_out.tokens), s_out.content_mask,
                                        t_out.content_mask)
            s_mask = s_out.content_mask[0]
            example["student_tokens"] = student.model.tokenizer.convert_ids_to_tokens(
                s_out.input_ids[0][s_mask].tolist())
            plan = res.plan[0][s_mask][:, t_mask]
            hard = torch.zeros_like(plan)
            col_index = torch.cumsum(t_mask.long(), 0) - 1  # position among content tokens
            for i, j in enumerate(match[0][s_mask].tolist()):
                if j >= 0:
                    hard[i, col_index[j]] = 1.0 / plan.shape[0]
            example["plans"][stage] = {"ot": plan.tolist(), "hard": hard.tolist(), "ot_cost": float(parts["ot"]),
                                       "epsilon": float(parts["epsilon"]), "row_entropy": row_entropy(plan)}
        examples.append(example)
    return examples


def student_plans(p: dict, key: str, student: str, language: str, n_pairs: int = 2, root: str | Path = ".",
                  fresh: bool = False) -> dict:
    """The plans (:func:`pair_plans`) of student ``student`` of study ``p[key]`` (its saved folder
    ``runs/<key>/<student>/student``) and of its initialisation, on the first ``n_pairs`` bitext pairs of
    ``language``, under the OT options of its variant; stored as ``results/<key>/plans-<student>.json`` and read
    from there where the student is not on this machine (students are not committed)."""
    from optical.config import TRAIN_KEYS, config_from_dict

    train = student_train_params(p, key, student)
    params = {"study": key, "student": student, "language": language, "n_pairs": n_pairs, "train": train}
    path = Layout(root).study(key) / f"plans-{student}.json"
    trained = Layout(root).run(key, student) / "student"
    if not trained.is_dir():
        if (kept := store.stored(path, params)) is not None:
            log.info("no trained student %s here: the plans stored in %s", trained, path)
            return kept
        raise FileNotFoundError(f"{trained}: the student is not on this machine and no plans are stored for it; "
                                f"run study {key!r} first")
    if not fresh and (kept := store.stored(path, params)) is not None:
        return kept
    config = config_from_dict({k: v for k, v in train.items() if k in TRAIN_KEYS})
    if not config.loss.startswith("ot"):
        raise ValueError(f"{key}.{student}: loss {config.loss!r} has no transport plan")
    return store.store(path, params, _plans(config, p["dataset"], p[key]["languages"], train.get("max_pairs"), trained,
                                            language, n_pairs, train["bitext_version"]))


def _plans(config, dataset: str, languages: list[str], max_pairs: int | None, trained: Path, language: str,
           n_pairs: int, version: int) -> dict:
    from optical.data.training import training_bitext
    from optical.models import StudentQueryEncoder, Teacher, load_sentence_transformer
    from optical.train import bitext_idf

    bitext = training_bitext(dataset, languages, max_pairs, config.seed, version=version)
    teacher = Teacher(config.teacher)
    students = {"before": StudentQueryEncoder(load_sentence_transformer(config.student or config.teacher)),
                "after": StudentQueryEncoder(load_sentence_transformer(str(trained)))}
    idf = bitext_idf(bitext, students["before"], teacher) if config.ot.marginals == "idf" else None
    pool = next(b for b in bitext if b.language == language)
    pairs = list(zip(pool.source, pool.target))[:n_pairs]
    return {"language": language, "ot_options": {**config.ot.loss_options(), "marginals": config.ot.marginals},
            "examples": pair_plans(students, teacher, pairs, config.max_length, config.ot.loss_options(), idf)}


def alignment_examples(p: dict, root: str | Path = ".") -> dict:
    """`05_alignment`: OT plans (before and after training) and the hard alignment for real bitext pairs."""
    from optical.data import afriqa
    from optical.models import StudentQueryEncoder, Teacher, load_sentence_transformer

    a = p["alignment"]
    params = {"alignment": a, "teacher": p["teacher"], "max_length": p["train"]["max_length"],
              "bitext_version": with_bitext_version(p["train"])["bitext_version"],
              "epsilon": p["train"].get("epsilon", 0.05)}
    path = Layout(root).study(p["dataset"]) / "alignment.json"
    trained = Layout(root).run(p["dataset"], a["student"]) / "student"
    if (kept := store.peek(path, params)) is not None and (kept["trained_student"] or not trained.is_dir()):
        log.info("reusing the plans stored in %s", path)  # the "after" plans were stored when the student was here
        return kept
    bitext = afriqa.build_bitext(a["language"], version=params["bitext_version"])
    pairs = list(zip(bitext.source, bitext.target))[: a["n_pairs"]]
    students = {"before": StudentQueryEncoder(load_sentence_transformer(p["teacher"]))}
    if trained.is_dir():
        students["after"] = StudentQueryEncoder(load_sentence_transformer(str(trained)))
    examples = pair_plans(students, Teacher(p["teacher"]), pairs, p["train"]["max_length"],
                          {"epsilon": p["train"].get("epsilon", 0.05)})
    return store.store(path, params, {
        "language": a["language"], "examples": examples,
        "trained_student": f"runs/{p['dataset']}/{a['student']}/student" if trained.is_dir() else None})
