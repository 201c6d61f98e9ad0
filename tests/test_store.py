"""The result store (optical.store): results keyed by the digest of their parameters, reused only for the same
digest, never lost when replaced; the committed results carry their keys with every number unchanged."""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from optical import store
from optical.io import read_json

ROOT = Path(__file__).resolve().parents[1]
BEFORE_THE_STORE = "1f00147"
"""The commit before the committed results were keyed: since then each file gained its ``digest`` and the dev
criteria of its dev history their dataset-neutral names (:func:`renamed`), nothing else."""


def renamed(result: dict) -> dict:
    """``result`` as committed before the store, with the dev criteria under their names of today: ``afriqa`` →
    ``queries`` (MRR@10 of the dev queries), ``mafand…`` → ``bitext…`` (held-out bitext retrieval)."""
    def neutral(key: str) -> str:
        return "queries" if key == "afriqa" else "bitext" + key[len("mafand"):] if key.startswith("mafand") else key

    training = result.get("training")
    if not isinstance(training, dict) or "dev_history" not in training:
        return result
    config = dict(training.get("config") or {})
    if "dev_select" in config:
        config["dev_select"] = {"afriqa": "queries", "mafand": "bitext"}.get(config["dev_select"], config["dev_select"])
    history = [{neutral(k): v for k, v in h.items()} for h in training["dev_history"]]
    return {**result, "training": {**training, "dev_history": history, **({"config": config} if config else {})}}


def unversioned(result: dict) -> dict:
    """``result`` without the ``bitext_version`` its parameters record (written into every committed result after
    the store, from the commit each was made at: optical.data.schema.BITEXT_VERSIONS)."""
    params = {k: v for k, v in result["params"].items() if k != "bitext_version"}
    if isinstance(params.get("train"), dict):
        params["train"] = {k: v for k, v in params["train"].items() if k != "bitext_version"}
    return {**result, "params": params}


def test_the_digest_is_the_sha256_of_the_canonical_json_of_the_parameters():
    params = {"train": {"seed": 0, "lr": 1e-4}, "languages": ["hau", "zul"]}
    canonical = '{"languages":["hau","zul"],"train":{"lr":0.0001,"seed":0}}'
    assert store.params_digest(params) == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert store.params_digest({"languages": ["zul", "hau"], "train": {"seed": 0, "lr": 1e-4}}) \
        != store.params_digest(params)  # the order of languages is part of what determines a result


def test_a_result_is_reused_for_its_parameters_only_and_never_lost(tmp_path, caplog):
    path = tmp_path / "results" / "dev" / "kd.json"
    old, new = {"train": {"lr": 1e-4}}, {"train": {"lr": 2e-4}}
    assert store.stored(path, old) is None
    written = store.store(path, old, {"mrr": 0.31})
    assert written == {"mrr": 0.31, "params": old, "digest": store.params_digest(old)} == read_json(path)
    assert store.stored(path, old) == written
    with caplog.at_level("WARNING"):
        assert store.stored(path, new) is None
    assert f"{path} will be recomputed and replaced (train.lr: 0.0001 -> 0.0002)" in caplog.text
    store.store(path, new, {"mrr": 0.35})
    kept = store.superseded_path(path, store.params_digest(old))
    assert read_json(kept)["mrr"] == 0.31 and read_json(path)["mrr"] == 0.35
    assert store.stored(path, old)["mrr"] == 0.31  # the old parameters again: the kept result, moved back
    assert read_json(path)["mrr"] == 0.31
    assert read_json(store.superseded_path(path, store.params_digest(new)))["mrr"] == 0.35
    with caplog.at_level("WARNING"):
        assert store.stored(path, old, fresh=True) is None
    assert "(fresh=True)" in caplog.text


def test_a_read_only_store_reads_and_names_the_command_for_what_it_lacks(tmp_path, monkeypatch):
    path, params = tmp_path / "results" / "e5t_dev" / "kd.json", {"train": {"lr": 1e-4}}
    written = store.store(path, params, {"mrr": 0.31})
    other = store.store(path, {"train": {"lr": 5e-4}}, {"mrr": 0.4})  # the first is kept under superseded/
    monkeypatch.setenv(store.READ_ONLY, "1")
    before = sorted(p.name for p in path.parent.rglob("*.json"))
    assert store.stored(path, params) == written and store.stored(path, other["params"]) == other
    assert sorted(p.name for p in path.parent.rglob("*.json")) == before, "a read moved a file"
    with pytest.raises(store.MissingResult, match=r"kd.json: stored with other parameters \(train.lr: 0.0005 -> 0.002\); "
                       r"the book only reads the store: `optical run --params <the same file> --study e5t_dev` "
                       r"makes it"):
        store.stored(path, {"train": {"lr": 2e-3}})
    with pytest.raises(store.MissingResult, match="ot.json: no result stored"):
        store.stored(path.parent / "ot.json", params)
    with pytest.raises(store.MissingResult, match=r"something tried to compute it\); the book only reads the store: "
                                                  "`optical run --params <the same file>` makes every result"):
        store.store(tmp_path / "results" / "afriqa" / "bm25.json", params, {"mrr": 0.5})
    assert not (path.parent / "ot.json").exists()


def test_every_result_that_a_bitext_decided_records_the_bitext_version_it_was_made_with():
    """Each committed result trained or fit on bitext carries ``bitext_version`` in its parameters (so in its
    digest): the first comparison 1, the English student's fair test 2 (before the one matching key), the rest 3;
    a result's training commit agrees with the version it records."""
    from optical.data.schema import BITEXT_VERSIONS

    by_study = {"ablations": 1, "afriqa": 1, "bitext_size": 1, "fair": 2, "curves": 2, "long_curves": 2,
                "rerun": 2, "long_rerun": 2}
    seen = set()
    for path in sorted((ROOT / "results").rglob("*.json")):
        result = read_json(path)
        params = result.get("params") if isinstance(result, dict) and path.name != "manifest.json" else None
        if not isinstance(params, dict) or not (isinstance(params.get("train"), dict) or "spec" in params
                                                 or "alignment" in params):
            continue
        version = (params["train"] if isinstance(params.get("train"), dict) else params)["bitext_version"]
        assert version in (1, *BITEXT_VERSIONS), path
        if "spec" not in params:  # the closed-form maps: 2, their ceilings 3 (checked by a replay, see the note)
            assert version == by_study.get(path.relative_to(ROOT / "results").parts[0], 3), path
        seen.add(version)
    assert seen == {1, 2, 3}


def test_a_bitext_version_rebuilds_the_bitext_its_results_were_trained_on():
    """Version 2 (the fair test's students) and 3 (the multilingual ones) each give back the bitext counts a stored
    student's card records, and differ from each other; version 1 is refused naming the commit to check out."""
    from optical.data.afriqa import build_bitext
    from optical.data.schema import DataError

    for path, version in (("long_rerun/kd-seed1.json", 2), ("e5t_long/kd-seed1.json", 3)):
        training = read_json(ROOT / "results" / path)["training"]
        for lang in ("hau", "ibo"):
            counts = dict(build_bitext(lang, seed=training["config"]["seed"], version=version).counts)
            stored = {k: v for k, v in training["bitext_counts"][lang].items() if k != "capped_to"}
            assert counts == stored, (path, lang)
            assert dict(build_bitext(lang, seed=training["config"]["seed"], version=5 - version).counts) != stored
    with pytest.raises(DataError, match="bitext version 1 is not rebuilt by this code.*ff86954"):
        build_bitext("hau", version=1)


def test_every_results_folder_is_a_study_or_a_chapter_folder_the_missing_message_knows():
    from optical.params import load_params
    from optical.study_spec import studies_of

    studies = set(studies_of(load_params(ROOT / "params" / "full.yaml", ROOT)))
    folders = {p.name for p in (ROOT / "results").iterdir() if p.is_dir()}
    assert folders <= studies | store.NOT_STUDIES, folders - studies - store.NOT_STUDIES
    assert not studies & store.NOT_STUDIES


def test_every_chapter_reads_back_from_the_committed_store_with_the_store_read_only(monkeypatch):
    """What the book build does: each chapter's one call (optical.studies.chapters) with the main job's parameters
    finds every result it needs in the committed store, and writes nothing."""
    from optical.book import results_digest
    from optical.params import chapter_parameters, load_params
    from optical.studies.chapters import CHAPTERS, run_chapter

    monkeypatch.setenv(store.READ_ONLY, "1")
    params, before = load_params(ROOT / "params" / "full.yaml", ROOT), results_digest(ROOT / "results")
    for chapter in CHAPTERS:
        out = run_chapter(chapter, chapter_parameters(chapter, params), ROOT)
        assert out, chapter
    assert results_digest(ROOT / "results") == before


def _store_written(path: Path, result: object) -> bool:
    """Whether a committed results file is one the store writes (not a seed mean, summary or manifest)."""
    return (isinstance(result, dict) and isinstance(result.get("params"), dict) and path.name != "manifest.json"
            and "variants" not in result["params"] and set(result["params"]) != {"seeds"})


RECOMPUTED = {"results/closed_form": "re-read with a ridge chosen on dev and bitext rules 3 (commit cdd1549 on)"}
"""Folders whose results were deliberately recomputed with other parameters since the store: not compared."""


def test_every_committed_result_is_keyed_by_its_parameters_with_its_numbers_unchanged():
    """Each committed result the store writes carries the digest of its parameters (so the book finds and reuses
    it), and apart from that key and the names of the dev criteria it is the JSON committed before the store,
    every number unchanged (but in :data:`RECOMPUTED`)."""
    if subprocess.run(["git", "cat-file", "-e", BEFORE_THE_STORE], cwd=ROOT, capture_output=True).returncode:
        pytest.skip(f"commit {BEFORE_THE_STORE} is not in this clone (shallow)")
    checked = 0
    for path in sorted((ROOT / "results").rglob("*.json")):
        result = read_json(path)
        if not _store_written(path, result) or "superseded" in path.parts:
            continue
        assert result.get("digest") == store.params_digest(result["params"]), path
        relative = path.relative_to(ROOT).as_posix()
        before = subprocess.run(["git", "show", f"{BEFORE_THE_STORE}:{relative}"], cwd=ROOT, capture_output=True)
        # a result made after the store has nothing to compare with
        if before.returncode == 0 and not relative.startswith(tuple(RECOMPUTED)):
            assert renamed(json.loads(before.stdout)) == {k: v for k, v in unversioned(result).items()
                                                          if k != "digest"}, path
            checked += 1
    assert checked == 174 - 4  # four closed-form spaces existed before the store


def test_the_committed_manifest_records_the_parameters_that_full_yaml_compiles_to_today():
    """The manifest of the committed run holds the compiled ``params/full.yaml``: rules resolve from the dev results,
    so a landed result that changes a rule's answer needs the manifest rewritten (`optical book --no-run`) in the
    same commit, or the book build of a fresh checkout rewrites it."""
    from optical.params import load_params

    manifest = read_json(ROOT / "results" / "manifest.json")
    assert manifest["params_file"] == "params/full.yaml"
    compiled = json.loads(json.dumps(load_params(ROOT / "params" / "full.yaml")))
    changed = sorted(k for k in compiled.keys() | manifest["params"].keys()
                     if compiled.get(k) != manifest["params"].get(k))
    assert not changed, (f"results/manifest.json was written for other parameters in {changed}: "
                         "run optical book --no-run")
