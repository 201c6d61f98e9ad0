"""Glue from a dataset name to training inputs: leakage-filtered bitext and dev tasks."""

from __future__ import annotations

import logging
from pathlib import Path

from optical.data import afriqa, webfaq
from optical.data.registry import load_tasks
from optical.data.schema import BITEXT_VERSION, Bitext, DataError, RetrievalTask

log = logging.getLogger(__name__)


def training_bitext(dataset: str, languages: list[str], max_pairs: int | None = None, seed: int = 0,
                    root: str | Path | None = None, version: int = BITEXT_VERSION) -> list[Bitext]:
    """One leakage-filtered :class:`Bitext` per language, each capped to ``max_pairs``, under the rules of bitext
    ``version`` (:data:`optical.data.schema.BITEXT_VERSIONS`; AfriQA)."""
    if dataset == "webfaq":
        return [webfaq.load_split(lang).train.take(max_pairs) for lang in languages]
    if dataset not in afriqa.DATASETS:
        raise DataError(f"no training bitext builder for dataset {dataset!r} "
                        f"(available: {', '.join(afriqa.DATASETS)}, webfaq)")
    afriqa.check_languages(languages, afriqa.LANGUAGES)
    return [afriqa.build_bitext(lang, root, seed, version=version).take(max_pairs) for lang in languages]


def dev_tasks(dataset: str, languages: list[str], root: str | Path | None = None) -> dict[str, RetrievalTask]:
    """Dev tasks of the languages that have a dev split with gold passages (AfriQA: not yor, swa)."""
    if dataset == "webfaq":
        return load_tasks(dataset, languages, "dev", root)
    if dataset not in afriqa.DATASETS:
        raise DataError(f"no dev split known for dataset {dataset!r}")
    with_dev = [lang for lang in languages if afriqa.gold_file(lang, "dev", root).is_file()]
    skipped = sorted(set(languages) - set(with_dev))
    if skipped:
        log.info("no dev gold for %s: model selection uses %s", skipped, with_dev)
    return load_tasks(dataset, with_dev, "dev", root) if with_dev else {}


def student_train_params(p: dict, key: str, name: str, teacher: bool = True) -> dict:
    """What student ``name`` of study ``p[key]`` is trained with (:meth:`optical.study_spec.Study.train_params`;
    ``teacher=False``: without the teacher, as the test reads' and the closed-form reads' keys were made)."""
    from optical.study_spec import study

    return study(p, key).train_params(name, teacher)


def dev_evaluator(dataset: str, languages: list[str], teacher_model, select: str = "afriqa",
                  mafand_pairs: int | None = 1000, root: str | Path | None = None, version: int = BITEXT_VERSION):
    """The :class:`optical.eval.dev.DevEvaluator` of ``languages``: dev retrieval tasks, and for AfriQA also
    MAFAND's held-out dev bitext (at most ``mafand_pairs`` per language; 0 leaves it out)."""
    from optical.eval.dev import DevEvaluator

    bitexts = {}
    if dataset in afriqa.DATASETS and mafand_pairs != 0:
        bitexts = {lang: afriqa.mafand_dev(lang, root, mafand_pairs, version) for lang in languages}
    return DevEvaluator(teacher_model, dev_tasks(dataset, languages, root), bitexts, select)
