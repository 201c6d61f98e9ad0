"""Loaders on fixture files the tests write: AfriQA, MAFAND, BEIR; leakage filter; bad input."""

import json

import pytest

from optical.data import afriqa
from optical.data.beir import load_beir
from optical.data.mafand import load_mafand
from optical.data.paths import REPO_ROOT, data_dir
from optical.data.registry import load_tasks
from optical.data.schema import Bitext, DataError, RetrievalTask, leakage_key, passage_id


def test_corpus_is_distinct_nonempty_gold_passages_with_stable_ids(afriqa_dir):
    corpus = afriqa.load_corpus(["hau", "bem"])
    assert len(corpus) == 4  # london, lagos, nile, kano; the empty passage is dropped
    assert corpus[passage_id("BBC", "The BBC is headquartered in London.")] == \
        "BBC. The BBC is headquartered in London."
    assert afriqa.load_corpus(["bem", "hau"]) == corpus  # order of languages does not matter


def test_task_keeps_queries_with_empty_gold_as_misses(afriqa_dir):
    task = afriqa.load_task("hau", "test")
    assert list(task.queries) == ["0", "1", "2"]
    assert task.missing_gold == {"2"} and "2" not in task.qrels
    assert task.translations["0"] == "where is the bbc"
    dev = afriqa.load_task("hau", "dev")
    assert list(dev.queries) == ["0"]


def test_the_dataset_name_decides_the_corpus(afriqa_dir):
    pooled = load_tasks("afriqa", ["hau", "bem"], "test")
    assert pooled["hau"].corpus is pooled["bem"].corpus and pooled["hau"].corpus == afriqa.load_corpus(["hau", "bem"])
    own = load_tasks("afriqa-own", ["hau", "bem"], "test")
    for lang in ("hau", "bem"):
        assert own[lang].corpus == afriqa.load_corpus([lang]) and own[lang].queries == pooled[lang].queries
    with pytest.raises(DataError, match="unknown AfriQA dataset 'afriqa-x'"):
        afriqa.load_tasks(["hau"], dataset="afriqa-x")


def test_text_is_nfc_normalised(tmp_path, monkeypatch, afriqa_dir):
    path = afriqa.query_file("hau", "dev")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["question"] = "Mene\u0301 ne kano"  # e + combining acute
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    afriqa._load_queries_cached.cache_clear()
    assert afriqa.load_queries("hau", "dev")[0].question == "Men\u00e9 ne kano"


def test_bitext_holds_no_dev_or_test_text_and_reports_counts(afriqa_dir):
    bitext = afriqa.build_bitext("hau")
    assert bitext.counts["mafand"] == 5 and bitext.counts["afriqa_train"] == 3  # MAFAND dev and AfriQA dev unused
    # the repeated test question, the case-folded test English, bem's dev translation, a MAFAND dev sentence
    assert bitext.counts["removed_leakage"] == 4
    assert bitext.counts["removed_duplicates"] == 1
    assert bitext.counts["pairs"] == len(bitext) == 3
    held = {t.casefold() for lang in ("hau", "bem") for split in ("dev", "test")
            for q in afriqa.load_queries(lang, split) for t in (q.question, q.translation)}
    held |= {"rain fell in kano.", "ruwa ya sauka a kano."}
    assert not any(s.casefold() in held or t.casefold() in held for s, t in zip(bitext.source, bitext.target))
    # question pairs come first so that a cap keeps them
    assert set(bitext.take(2).source) == {"yaya kogin nilu", "tambaya ba zinare"}


def test_mafand_dev_is_held_out_and_deduplicated(afriqa_dir):
    dev = afriqa.mafand_dev("hau")
    assert dev.source == ["Ruwa ya sauka a Kano."] and dev.target == ["Rain fell in Kano."]
    assert len(afriqa.mafand_dev("bem")) == 0  # MAFAND has no Bemba


def test_bitext_without_mafand(afriqa_dir):
    bitext = afriqa.build_bitext("bem")
    assert bitext.counts["mafand"] == 0 and bitext.source == ["lagos ni shani"]  # its dev question is held out


def test_mafand_reads_jsonl_and_text_splits(tmp_path):
    folder = tmp_path / "mafand" / "en-swa"
    folder.mkdir(parents=True)
    (folder / "train.en").write_text("one\ntwo\n")
    (folder / "train.swa").write_text("moja\nmbili\n")
    (folder / "dev.jsonl").write_text(json.dumps({"translation": {"en": "three", "swa": "tatu"}}) + "\n")
    assert load_mafand("swa", tmp_path) == [("moja", "one"), ("mbili", "two"), ("tatu", "three")]
    (folder / "train.swa").write_text("moja\n")
    with pytest.raises(DataError, match="mismatched bitext"):
        load_mafand("swa", tmp_path)


def test_beir_folder(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        json.dumps({"_id": "d1", "title": "T", "text": "alpha"}) + "\n" + json.dumps({"_id": "d2", "text": "beta"}))
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a?"}) + "\n" +
                                            json.dumps({"_id": "q2", "text": "b?"}))
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t0\n")
    task = load_beir(tmp_path)
    assert task.corpus == {"d1": "T. alpha", "d2": "beta"}
    assert task.queries == {"q1": "a?"} and task.qrels == {"q1": {"d1": 1}}
    (tmp_path / "qrels" / "test.tsv").write_text("q1\td9\t1\n")
    with pytest.raises(DataError, match="absent from the corpus"):
        load_beir(tmp_path)


@pytest.mark.parametrize("call, message", [
    (lambda: load_tasks("afriqa", ["xx", "hau"]), "unknown AfriQA language code.*valid codes: bem"),
    (lambda: afriqa.load_task("bem", "nosplit"), "unknown split"),
    (lambda: load_tasks("nope"), "unknown dataset"),
])
def test_bad_input_errors(afriqa_dir, call, message):
    with pytest.raises(DataError, match=message):
        call()


def test_missing_data_directory_names_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(DataError, match=r"absent.*OPTICAL_DATA_DIR.*masakhane-io/afriqa"):
        data_dir()
    (tmp_path / "absent").mkdir()
    with pytest.raises(DataError, match="AfriQA queries not found under"):
        afriqa.load_corpus(["hau"])


def test_task_validation_errors():
    corpus = {"d1": "text"}
    with pytest.raises(DataError, match="empty query text"):
        RetrievalTask("t", "x", corpus, {"q": "  "}, {"q": {"d1": 1}}).validate()
    with pytest.raises(DataError, match="absent from the corpus"):
        RetrievalTask("t", "x", corpus, {"q": "a"}, {"q": {"d2": 1}}).validate()
    with pytest.raises(DataError, match="mismatched bitext"):
        Bitext("hau", ["a", "b"], ["a"])
    with pytest.raises(DataError, match="empty sentence"):
        Bitext("hau", ["a", " "], ["a", "b"])


@pytest.mark.skipif(not (REPO_ROOT.parent / "shared" / "data" / "afriqa").is_dir(), reason="no shared data")
def test_real_afriqa_counts(monkeypatch):
    monkeypatch.delenv("OPTICAL_DATA_DIR", raising=False)
    afriqa._load_queries_cached.cache_clear()
    corpus = afriqa.load_corpus()
    assert 5300 < len(corpus) < 5420  # benchmark.md: about 5,378 (our rule: NFC, stripped, non-empty)
    n = {lang: len(afriqa.load_task(lang, "test", corpus=corpus).queries) for lang in afriqa.LANGUAGES}
    assert n == {"hau": 300, "ibo": 409, "yor": 254, "swa": 295, "zul": 325, "kin": 347, "twi": 486, "bem": 309}
    own = load_tasks("afriqa-own", ["hau", "bem"])
    assert {lang: len(task.corpus) for lang, task in own.items()} == {"hau": 705, "bem": 724}
    mini = load_tasks("afriqa-mini", ["hau", "bem"])  # the smoke book's: own passages, 50 questions
    for lang, task in mini.items():
        assert task.corpus == own[lang].corpus and list(task.queries) == list(own[lang].queries)[:50]
        assert task.qrels == {q: own[lang].qrels[q] for q in task.queries if q in own[lang].qrels}
        assert task.missing_gold == own[lang].missing_gold & set(task.queries) and task.validate()
    assert len(mini["bem"].missing_gold) == len(own["bem"].missing_gold & set(list(own["bem"].queries)[:50]))
    bem = afriqa.build_bitext("bem")
    assert bem.counts["mafand"] == 0 and 400 < len(bem) < 520  # AfriQA bem train questions only


@pytest.mark.skipif(not (REPO_ROOT.parent / "shared" / "data" / "afriqa").is_dir(), reason="no shared data")
@pytest.mark.parametrize("lang", afriqa.LANGUAGES)
def test_real_bitext_holds_no_dev_or_test_question(lang, monkeypatch):
    """benchmark.md: no AfriQA dev/test question or translation (any language), no MAFAND dev sentence."""
    monkeypatch.delenv("OPTICAL_DATA_DIR", raising=False)
    afriqa._load_queries_cached.cache_clear()

    key = leakage_key
    held = {key(t) for other in afriqa.LANGUAGES for split in ("dev", "test")
            for q in afriqa.load_queries(other, split) for t in (q.question, q.translation)}
    held |= {key(t) for pair in load_mafand(lang, splits=("dev",)) for t in pair}
    bitext = afriqa.build_bitext(lang)
    assert len(bitext) > 300
    assert not [s for s, t in zip(bitext.source, bitext.target) if key(s) in held or key(t) in held]
    dev = afriqa.mafand_dev(lang)
    assert not set(map(key, dev.source)) & set(map(key, bitext.source))


def test_one_leakage_key_ignores_punctuation_case_and_zero_width_characters():
    assert leakage_key("Who was the first female president in Africa ?") == \
        leakage_key("Who was the first female President in Africa?") == "who was the first female president in africa"
    assert leakage_key("How many languages \u200b\u200bare spoken in China?") == \
        leakage_key("How many languages are spoken in China?")
    assert leakage_key("Ｆｕｌｌ\ufeffwidth  text") == "fullwidth text"  # NFKC; a byte-order mark removed
    assert leakage_key("kwa nini?") != leakage_key("kwa nini sasa?")


@pytest.mark.skipif(not (REPO_ROOT.parent / "shared" / "data" / "afriqa").is_dir(), reason="no shared data")
def test_real_near_duplicates_of_test_questions_leave_the_bitext(monkeypatch):
    """Two training questions that differ from a test question's translation only by punctuation or zero-width
    spaces: yor train 12 ("… Africa ?" = ibo test 169) and zul train 31 (= hau test 105)."""
    monkeypatch.delenv("OPTICAL_DATA_DIR", raising=False)
    afriqa._load_queries_cached.cache_clear()
    for lang, qid in (("yor", "12"), ("zul", "31")):
        question = next(q for q in afriqa.load_queries(lang, "train") if q.id == qid)
        bitext = afriqa.build_bitext(lang)
        assert question.translation not in bitext.target and question.question not in bitext.source


def test_query_with_empty_question_is_dropped_with_a_warning(afriqa_dir, caplog):
    path = afriqa.query_file("bem", "dev")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["question"] = "   "
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    afriqa._load_queries_cached.cache_clear()
    with caplog.at_level("WARNING"):
        with pytest.raises(DataError, match="there are no queries"):  # its only query was empty
            afriqa.load_task("bem", "dev")
    assert "dropped 1 queries with an empty question" in caplog.text
