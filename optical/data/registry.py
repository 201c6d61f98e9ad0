"""Dataset names -> retrieval tasks per language: ``afriqa`` or ``beir:<folder>``."""

from __future__ import annotations

from pathlib import Path

from optical.data import afriqa, webfaq
from optical.data.beir import load_beir
from optical.data.schema import DataError, RetrievalTask


def default_languages(dataset: str) -> list[str]:
    if dataset in afriqa.DATASETS:
        return list(afriqa.LANGUAGES)
    if dataset.startswith("beir:"):
        return ["und"]
    if dataset == "webfaq":
        return ["swa", "hau", "amh", "som", "tgl"]
    raise DataError(f"unknown dataset {dataset!r}; use {', '.join(afriqa.DATASETS)}, webfaq or beir:<folder>")


def load_tasks(dataset: str, languages: list[str] | None = None, split: str = "test",
               root: str | Path | None = None) -> dict[str, RetrievalTask]:
    """One :class:`RetrievalTask` per language of ``dataset``."""
    languages = languages or default_languages(dataset)
    if dataset in afriqa.DATASETS:
        return afriqa.load_tasks(languages, split, root, dataset)
    if dataset.startswith("beir:"):
        folder = dataset.split(":", 1)[1]
        return {lang: load_beir(folder, split, lang) for lang in languages}
    if dataset == "webfaq":
        if split not in ("dev", "test"):
            raise DataError(f"WebFAQ tasks exist for the dev and test splits, not {split!r}")
        return {lang: getattr(webfaq.load_split(lang), split) for lang in languages}
    raise DataError(f"unknown dataset {dataset!r}; use {', '.join(afriqa.DATASETS)}, webfaq or beir:<folder>")
