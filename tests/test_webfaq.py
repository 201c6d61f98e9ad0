"""WebFAQ-CLIR on a small fixture in WebFAQ's schema: site split, leakage, counts, hub and local paths."""

import json

import pytest

from optical.data import webfaq
from optical.data.schema import DataError


def make_rows():
    rows = []
    for s in range(6):
        for i in range(4):
            swa_first = (s + i) % 2 == 0  # both language orders
            q, qe = f"swali {i} la tovuti {s}", f"question {i} of site {s}"
            a, ae = f"jibu {i} {s}", f"answer {i} of site {s}"
            rows.append({"language1": "swa" if swa_first else "eng", "language2": "eng" if swa_first else "swa",
                         "origin": f"site{s}.example", "labse_similarity": 0.9,
                         "question1": q if swa_first else qe, "question2": qe if swa_first else q,
                         "answer1": a if swa_first else ae, "answer2": ae if swa_first else a})
    rows.append(dict(rows[0]))  # exact duplicate
    rows.append({**rows[1], "labse_similarity": 0.1, "question1": "low", "question2": "low en"})
    rows.append({**rows[2], "language1": "fra", "language2": "eng"})  # another pair
    # the same question on a second site: must not leak into training when the other copy is held out
    rows.append({**rows[4], "origin": "site5.example", "answer1": "x", "answer2": "y"})
    return rows


def test_site_split_has_no_overlap_no_leakage_and_counts():
    split = webfaq.build_clir(make_rows(), "swa", min_labse=0.5, ratios=(0.2, 0.2), seed=3)
    sites = split.sites
    assert not set(sites["train"]) & set(sites["test"]) and not set(sites["dev"]) & set(sites["test"])
    assert not set(sites["train"]) & set(sites["dev"])
    held = {t.casefold() for task in (split.dev, split.test) for qid in task.queries
            for t in (task.queries[qid], task.translations[qid])}
    assert not any(s.casefold() in held or t.casefold() in held for s, t in zip(split.train.source, split.train.target))
    c = split.counts
    assert c["rows"] == 28 and c["duplicates"] == 1 and c["below_labse"] == 1 and c["other_pairs_or_empty"] == 1
    assert c["pairs"] == 25 and c["sites"] == 6
    assert c["train_rows"] + c["dev_rows"] + c["test_rows"] == 25
    assert len(split.train) == c["train_rows"] - c["removed_leakage"]
    # queries are the Swahili questions, relevant docs their English answers
    qid = next(iter(split.test.queries))
    assert split.test.queries[qid].startswith("swali")
    assert split.test.corpus[next(iter(split.test.qrels[qid]))].startswith("answer")


def test_same_seed_same_split_and_answer_pairs_option():
    a = webfaq.build_clir(make_rows(), "swa", seed=1)
    b = webfaq.build_clir(make_rows(), "swa", seed=1, answer_pairs=True, distractors=["an unrelated answer"])
    assert a.sites == b.sites
    assert len(b.train) == 2 * len(a.train)
    assert len(b.test.corpus) == len(a.test.corpus) + 1


def test_loader_errors():
    with pytest.raises(DataError, match="lacks fields"):
        webfaq.build_clir([{"language1": "swa"}], "swa")
    few = [r for r in make_rows() if r["origin"] in ("site0.example", "site1.example")]
    with pytest.raises(DataError, match="at least 3"):
        webfaq.build_clir(few, "swa")


def test_unreachable_hub_and_no_directory_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr("optical.env.hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(webfaq.WebFAQUnavailable, match="OPTICAL_WEBFAQ_DIR"):
        webfaq.load_rows("swa")


def test_local_directory_of_jsonl(tmp_path):
    (tmp_path / "part.jsonl").write_text("".join(json.dumps(r) + "\n" for r in make_rows()))
    rows = webfaq.load_rows("swa", local_dir=tmp_path)
    assert len(rows) == 28 and set(webfaq.FIELDS) <= set(rows[0])
    with pytest.raises(webfaq.WebFAQUnavailable, match="no parquet or JSONL"):
        webfaq.load_rows("swa", local_dir=tmp_path / "empty")


def test_hub_path_with_datasets_mocked_at_the_network_boundary(monkeypatch):
    import datasets

    calls = {}
    monkeypatch.setattr("optical.env.hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(datasets, "get_dataset_config_names", lambda repo: ["ara-eng", "eng-swa", "eng-fra"])

    def fake_load_dataset(repo, name=None, split=None):
        calls.update(repo=repo, name=name, split=split)
        return datasets.Dataset.from_list(make_rows())

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    rows = webfaq.load_rows("swa", max_rows=10)
    assert calls == {"repo": "PaDaS-Lab/webfaq-bitexts", "name": "eng-swa", "split": "train"} and len(rows) == 10
    with pytest.raises(DataError, match="no config for som-eng"):
        webfaq.load_rows("som")


def test_registry_and_bitext_builder_read_webfaq_from_a_local_directory(tmp_path, monkeypatch):
    from optical.data.registry import load_tasks
    from optical.data.training import dev_tasks, training_bitext

    (tmp_path / "swa").mkdir()
    (tmp_path / "swa" / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in make_rows()))
    monkeypatch.setenv("OPTICAL_WEBFAQ_DIR", str(tmp_path))
    webfaq.load_split.cache_clear()
    test = load_tasks("webfaq", ["swa"], "test")["swa"]
    bitext = training_bitext("webfaq", ["swa"])[0]
    assert test.queries and len(bitext) > 0 and list(dev_tasks("webfaq", ["swa"])) == ["swa"]
    assert not set(test.queries.values()) & set(bitext.source)
    webfaq.load_split.cache_clear()
