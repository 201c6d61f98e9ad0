"""MAFAND-MT news bitext (Adelani et al., NAACL 2022): ``mafand/en-<L>/{train,dev,test}.jsonl``."""

from __future__ import annotations

from pathlib import Path

from optical.data.jsonl import read_jsonl
from optical.data.paths import data_dir
from optical.data.schema import DataError

SPLITS = ("train", "dev", "test")
TRAINING_SPLITS = ("train", "test")
"""MAFAND splits that may enter training bitext; ``dev`` is held out (the second dev criterion)."""


def load_mafand(language: str, root: str | Path | None = None, pivot: str = "en",
                splits: tuple[str, ...] = SPLITS) -> list[tuple[str, str]]:
    """The (L sentence, pivot sentence) pairs of ``<pivot>-<language>`` over ``splits``, raw text.

    Returns an empty list for a language MAFAND does not cover (e.g. bem); a split
    given as line-aligned text files (``train.en`` / ``train.<L>``) is read too.
    """
    folder = data_dir(root) / "mafand" / f"{pivot}-{language}"
    if not folder.is_dir():
        return []
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise DataError(f"unknown MAFAND split(s) {unknown}; valid: {SPLITS}")
    pairs: list[tuple[str, str]] = []
    for split in splits:
        jsonl = folder / f"{split}.jsonl"
        src_txt, tgt_txt = folder / f"{split}.{language}", folder / f"{split}.{pivot}"
        if jsonl.is_file():
            for record in read_jsonl(jsonl):
                translation = record.get("translation", {})
                if language not in translation or pivot not in translation:
                    raise DataError(f"{jsonl}: a record lacks the keys {language!r}/{pivot!r}: {sorted(translation)}")
                pairs.append((translation[language], translation[pivot]))
        elif src_txt.is_file() and tgt_txt.is_file():
            src = src_txt.read_text(encoding="utf-8").splitlines()
            tgt = tgt_txt.read_text(encoding="utf-8").splitlines()
            if len(src) != len(tgt):
                raise DataError(f"mismatched bitext: {src_txt} has {len(src)} lines, {tgt_txt} has {len(tgt)}")
            pairs.extend(zip(src, tgt))
    return pairs
