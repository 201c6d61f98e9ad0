"""The real model and data: offline model resolution and the benchmark's reference rows (Hausa)."""

import logging

import pytest

from optical.data.paths import REPO_ROOT
from optical.models import resolve_model

HAVE_DATA = (REPO_ROOT.parent / "shared" / "data" / "afriqa").is_dir()


def test_offline_alias_resolves_to_the_packaged_copy(caplog):
    with caplog.at_level(logging.INFO, logger="optical.models"):
        path = resolve_model("all-MiniLM-L6-v2")  # HF_HUB_OFFLINE=1 in every test
    assert (REPO_ROOT / path).joinpath("config.json").is_file() or __import__("pathlib").Path(path, "config.json").is_file()
    assert "hub unreachable, using the offline copy" in caplog.text


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_DATA, reason="needs ../shared/data")
def test_reference_rows_on_hausa(real_cache, monkeypatch):
    """benchmark.md: floor .162, BM25 .307, ceiling .763 on hau (an evaluation that is off by > 0.01 has a bug)."""
    from optical.data.afriqa import _load_queries_cached
    from optical.evaluate import evaluate

    monkeypatch.setenv("OPTICAL_CACHE_DIR", str(real_cache))
    monkeypatch.delenv("OPTICAL_DATA_DIR", raising=False)
    _load_queries_cached.cache_clear()
    for system, expected in {"teacher": 0.162, "ceiling": 0.763, "bm25": 0.307}.items():
        result = evaluate(system, "afriqa", ["hau"])
        assert result["languages"]["hau"]["n_queries"] == 300
        assert result["languages"]["hau"]["MRR@10"] == pytest.approx(expected, abs=0.01), system
