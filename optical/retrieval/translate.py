"""Translate-test with a neural MT model: translate each L query to English, retrieve with the teacher.

Any ``transformers`` seq2seq model works (``--translator``): NLLB-200 (``facebook/nllb-200-distilled-600M``)
needs language codes (``hau_Latn`` …), which :data:`NLLB_CODES` maps from ISO 639-3; opus-mt models need none.
Translations are cached on disk per (model, language) in a JSON file, so a query is translated once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from tqdm.auto import tqdm

from optical import env
from optical.io import atomic_write_json

log = logging.getLogger(__name__)

NLLB_CODES = {"eng": "eng_Latn", "hau": "hau_Latn", "ibo": "ibo_Latn", "yor": "yor_Latn", "swa": "swh_Latn",
              "zul": "zul_Latn", "kin": "kin_Latn", "twi": "twi_Latn", "bem": "bem_Latn", "fon": "fon_Latn",
              "wol": "wol_Latn", "amh": "amh_Ethi", "som": "som_Latn", "tgl": "tgl_Latn", "khm": "khm_Khmr",
              "yid": "ydd_Hebr", "mlg": "plt_Latn", "sun": "sun_Latn", "jav": "jav_Latn", "fra": "fra_Latn"}


class Translator:
    """A seq2seq MT model with a per-language translation cache."""

    def __init__(self, model: str, device: str | None = None, batch_size: int = 16, max_length: int = 128,
                 cache: Path | None = None, trust_remote_code: bool = False):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from optical.models import ModelError

        local = Path(model).expanduser()
        if not local.is_dir() and not env.hub_reachable():
            raise ModelError(f"translator {model!r} is not a local directory and the Hugging Face hub is unreachable: "
                             f"translate-test needs an MT model (e.g. facebook/nllb-200-distilled-600M). Offline, use "
                             f"the 'ceiling' system (human translations) instead.")
        self.name = model
        self.device = device or env.default_device()
        self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(model, trust_remote_code=trust_remote_code).to(self.device)
        self.model.eval()
        self.batch_size, self.max_length = batch_size, max_length
        self.cache_root = cache or env.cache_dir() / "translations"

    def _codes(self, language: str) -> tuple[str | None, int | None]:
        """(source code, forced BOS id of English) when the tokenizer knows language codes, else (None, None)."""
        vocab = self.tokenizer.get_vocab()
        src, tgt = NLLB_CODES.get(language), NLLB_CODES["eng"]
        if tgt not in vocab:
            return None, None  # a single-pair model (opus-mt): no codes
        if src is None or src not in vocab:
            raise ValueError(f"translator {self.name} has no language code for {language!r} "
                             f"(looked for {src!r}); known mapping: {sorted(NLLB_CODES)}")
        return src, vocab[tgt]

    def _cache_path(self, language: str) -> Path:
        key = hashlib.sha1(self.name.encode()).hexdigest()[:12]
        return self.cache_root / f"{key}-{language}.json"

    @torch.no_grad()
    def translate(self, texts: list[str], language: str) -> list[str]:
        """English translations of ``texts`` (language ``language``), in order."""
        path = self._cache_path(language)
        cached: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        todo = list(dict.fromkeys(t for t in texts if t not in cached))
        if todo:
            src, forced_bos = self._codes(language)
            if src is not None:
                self.tokenizer.src_lang = src
            kwargs = {"max_new_tokens": self.max_length}
            if forced_bos is not None:
                kwargs["forced_bos_token_id"] = forced_bos
            for start in tqdm(range(0, len(todo), self.batch_size), desc=f"translate {language}",
                              disable=len(todo) < 64):
                batch = todo[start:start + self.batch_size]
                inputs = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True,
                                        max_length=self.max_length).to(self.device)
                outputs = self.model.generate(**inputs, **kwargs)
                for text, out in zip(batch, self.tokenizer.batch_decode(outputs, skip_special_tokens=True)):
                    cached[text] = out.strip()
            atomic_write_json(path, cached)
        return [cached[t] for t in texts]
