"""Shared fixtures: a tiny sentence-transformers model and a tiny AfriQA/MAFAND data folder, built here."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):  # two workers share the machine's two cores: one thread each, and the
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # subprocesses they start inherit it

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def build_tiny_model(folder: Path, hidden: int = 32, seed: int = 0, dropout: float = 0.1) -> Path:
    """A 2-layer BERT with a character WordPiece vocabulary, saved as a sentence-transformers directory."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers import models as st_models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    hf = folder / "hf"
    hf.mkdir(parents=True, exist_ok=True)
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    (hf / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(hf / "vocab.txt")).save_pretrained(hf)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=128,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    BertModel(config).save_pretrained(hf)
    transformer = st_models.Transformer(str(hf), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, st_models.Pooling(hidden, "mean"), st_models.Normalize()],
                                device="cpu")
    out = folder / "st"
    model.save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_afriqa_fixture(root: Path) -> Path:
    """Two languages (hau with all splits, bem without MAFAND), leakage and duplicates planted."""
    passages = {
        "london": ("BBC", "The BBC is headquartered in London."),
        "lagos": ("Lagos", "Lagos is the largest city in Nigeria."),
        "nile": ("Nile", "The Nile is a long river in Africa."),
        "kano": ("Kano", "Kano is a city in northern Nigeria."),
        "empty": (None, ""),
    }
    queries = {
        ("hau", "test"): [("a ina bbc take", "where is the bbc", "london"),
                          ("wane birni mafi girma", "which is the largest city", "lagos"),
                          ("ina kogin nilu", "where is the nile river", "empty")],
        ("hau", "dev"): [("menene kano", "what is kano", "kano")],
        ("hau", "train"): [("a ina bbc take", "where is the bbc", "london"),  # leaks a test question
                           ("yaya kogin nilu", "how long is the nile", "nile"),
                           ("tambaya ba zinare", "a question without gold", None)],
        ("bem", "test"): [("ni kwi bbc", "where is the bbc located", "london"),
                          ("umumana nile", "the nile river", "nile")],
        ("bem", "dev"): [("kano ni shani", "what is kano city", "kano")],
        ("bem", "train"): [("lagos ni shani", "what is lagos", "lagos")],
    }
    for (lang, split), rows in queries.items():
        _write_jsonl(root / "afriqa" / "queries" / lang / f"queries.afriqa.{lang}.en.{split}.json",
                     [{"id": i, "question": q, "translated_question": t, "answers": "['x']", "lang": lang,
                       "split": split, "translated_answer": "['x']", "translation_type": "human_translation"}
                      for i, (q, t, _) in enumerate(rows)])
        gold = []
        for i, (q, t, key) in enumerate(rows):
            if key is None:
                continue
            title, context = passages[key]
            gold.append({"id": str(i), "title": title, "context": context, "question_lang": q,
                         "question_translated": t, "answer_lang": "x",
                         "answer_pivot": {"answer_start": [0], "text": ["x"]}})
        _write_jsonl(root / "afriqa" / "gold_passages" / lang / f"gold_span_passages.afriqa.{lang}.en.{split}.json",
                     gold)
    for lang in ("ibo", "yor", "swa", "zul", "kin", "twi"):  # present but empty: the corpus spans all eight
        for split in ("train", "dev", "test"):
            _write_jsonl(root / "afriqa" / "queries" / lang / f"queries.afriqa.{lang}.en.{split}.json", [])
    _write_jsonl(root / "mafand" / "en-hau" / "train.jsonl", [
        {"translation": {"en": "The president spoke today.", "hau": "Shugaban kasa ya yi magana yau."}},
        {"translation": {"en": "The president spoke today.", "hau": "Shugaban kasa ya yi magana yau."}},  # dup
        {"translation": {"en": "Where is the BBC", "hau": "labarai"}},  # English side leaks (case-folded)
        {"translation": {"en": "What is Kano city", "hau": "birnin kano"}},  # bem's dev translation leaks
        {"translation": {"en": "It rained.", "hau": "Ruwa ya sauka a Kano."}},  # a MAFAND dev sentence leaks
    ])
    _write_jsonl(root / "mafand" / "en-hau" / "dev.jsonl", [
        {"translation": {"en": "Rain fell in Kano.", "hau": "Ruwa ya sauka a Kano."}}])
    return root


@pytest.fixture()
def afriqa_dir(tmp_path, monkeypatch) -> Path:
    root = write_afriqa_fixture(tmp_path / "data")
    monkeypatch.setenv("OPTICAL_DATA_DIR", str(root))
    from optical.data.afriqa import _load_queries_cached

    _load_queries_cached.cache_clear()
    return root


@pytest.fixture
def one_thread():
    """torch on one thread for the test, as the processes it starts; the worker's setting is restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory) -> Path:
    """One document-matrix cache for every test that uses the real MiniLM model and corpus."""
    return tmp_path_factory.mktemp("real-cache")
