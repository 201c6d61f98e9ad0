"""Metrics against hand-computed values and ir-measures; tie rule; significance; retrieval cache."""

import math

import ir_measures
import numpy as np
import pytest
from ir_measures import RR, nDCG

from optical.eval.metrics import aggregate, gap_closure, macro_average, per_query, rank_with_ties
from optical.eval.significance import compare_runs, holm, paired_randomization
from optical.retrieval.dense import cached_matrix, exact_search

QRELS = {"q1": {"d3": 1}, "q2": {"d1": 1}, "q3": {"d9": 1}}
RUN = {"q1": {"d1": 0.9, "d2": 0.8, "d3": 0.7}, "q2": {"d1": 0.5, "d4": 0.1}, "q3": {"d2": 1.0}}


def test_metrics_hand_computed():
    values = per_query(QRELS, RUN, ["q1", "q2", "q3", "q4"])
    assert values["MRR@10"] == {"q1": pytest.approx(1 / 3), "q2": 1.0, "q3": 0.0, "q4": 0.0}
    assert values["nDCG@10"]["q1"] == pytest.approx(1 / math.log2(4))  # one relevant doc at rank 3
    assert values["R@100"] == {"q1": 1.0, "q2": 1.0, "q3": 0.0, "q4": 0.0}
    agg = aggregate(values)
    assert agg["MRR@10"] == pytest.approx((1 / 3 + 1) / 4) and agg["n_queries"] == 4


def test_metrics_agree_with_ir_measures_on_random_runs():
    rng = np.random.default_rng(0)
    docs = [f"d{i}" for i in range(40)]
    qrels = {f"q{i}": {docs[rng.integers(40)]: 1} for i in range(30)}
    run = {q: {d: float(s) for d, s in zip(docs, rng.random(40))} for q in qrels}
    ours = aggregate(per_query(qrels, run, list(qrels)))
    ref = ir_measures.calc_aggregate([RR @ 10, nDCG @ 10], qrels, run)
    assert ours["MRR@10"] == pytest.approx(ref[RR @ 10])
    assert ours["nDCG@10"] == pytest.approx(ref[nDCG @ 10])


@pytest.mark.parametrize("run", [{"q": {"a1": 0.5, "b": 0.5, "c": 0.5}}, {"q": {"c": 0.5, "b": 0.5, "a1": 0.5}}])
def test_tie_rule_is_one_ranking_for_every_measure(run):
    # equal scores: the smaller doc id first, whatever the order of the run, for RR and nDCG alike
    assert rank_with_ties(run["q"]) == ["a1", "b", "c"]
    values = per_query({"q": {"b": 1}}, run, ["q"])
    assert values["MRR@10"]["q"] == 0.5
    assert values["nDCG@10"]["q"] == pytest.approx(1 / math.log2(3))  # rank 2 for nDCG too


def test_macro_average_and_gap_closure():
    assert macro_average({"x": {"MRR@10": 0.2}, "y": {"MRR@10": 0.4}}) == {"MRR@10": pytest.approx(0.3)}
    assert gap_closure(0.5, 0.2, 0.8) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        gap_closure(0.5, 0.3, 0.3)


def test_holm_hand_computed():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == {"a": pytest.approx(0.03), "b": pytest.approx(0.06), "c": pytest.approx(0.06)}


def test_paired_randomization():
    rng = np.random.default_rng(1)
    x = {str(i): float(v) for i, v in enumerate(rng.random(200))}
    assert paired_randomization(x, dict(x))["p_value"] == 1.0
    better = {k: v + 0.2 for k, v in x.items()}
    res = paired_randomization(better, x, n_resamples=2000)
    assert res["delta"] == pytest.approx(0.2) and res["p_value"] < 0.01
    noise = {k: v + float(rng.normal(0, 0.1)) for k, v in x.items()}
    assert paired_randomization(noise, x, n_resamples=2000)["p_value"] > 0.05
    with pytest.raises(ValueError, match="same queries"):
        paired_randomization(x, {"0": 1.0})
    tests = compare_runs({"hau": better, "yor": noise}, {"hau": x, "yor": x}, n_resamples=2000)
    assert tests["hau"]["p_holm"] >= tests["hau"]["p_value"]


def test_exact_search_is_brute_force_topk():
    rng = np.random.default_rng(2)
    q, d = rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    run = exact_search(q, d, [f"q{i}" for i in range(5)], [f"d{j}" for j in range(50)], k=7, chunk=2)
    for i in range(5):
        expected = [f"d{j}" for j in np.argsort(-(d @ q[i]))[:7]]
        assert list(run[f"q{i}"]) == expected


def test_document_cache_is_reused_and_invalidated(tmp_path):
    calls = []

    def encode(texts):
        calls.append(len(texts))
        return np.ones((len(texts), 4), dtype=np.float32) * len(calls)

    corpus = {"a": "x", "b": "y"}
    first = cached_matrix("st", "model1", corpus, encode, root=tmp_path)
    again = cached_matrix("st", "model1", corpus, encode, root=tmp_path)
    assert calls == [2] and np.array_equal(first, again)
    cached_matrix("st", "model2", corpus, encode, root=tmp_path)  # model changed
    cached_matrix("st", "model1", {**corpus, "b": "z"}, encode, root=tmp_path)  # corpus text changed
    assert calls == [2, 2, 2]


def test_seed_aggregation_means_sds_and_per_query_average():
    from optical.studies.seed_means import aggregate_seeds

    def seed_result(seed, rr):
        return {"dataset": "afriqa", "split": "test", "model": "m", "params": {"train": {"seed": seed}},
                "languages": {"hau": {"MRR@10": float(np.mean(rr)), "n_queries": 2}},
                "macro": {"MRR@10": float(np.mean(rr))}, "per_query": {"MRR@10": {"hau": {"a": rr[0], "b": rr[1]}}},
                "training": {"config": {"seed": seed}, "wall_s": 10.0, "steps": 5}}

    agg = aggregate_seeds("ot", [seed_result(0, [1.0, 0.0]), seed_result(1, [0.5, 0.5])])
    assert agg["macro"]["MRR@10"] == pytest.approx(0.5) and agg["macro"]["MRR@10 sd"] == pytest.approx(0.0)
    assert agg["per_query"]["MRR@10"]["hau"] == {"a": 0.75, "b": 0.25}
    assert agg["seeds"] == [0, 1] and agg["training"]["wall_s"] == 20.0
    one = aggregate_seeds("kd", [seed_result(0, [1.0, 0.5])])
    assert one["macro"]["MRR@10 sd"] is None and one["languages"]["hau"]["MRR@10 sd"] is None
    assert one["languages"]["hau"]["MRR@10"] == pytest.approx(0.75)


def test_maxsim_search_equals_a_brute_force_loop():
    from optical.retrieval.late_interaction import maxsim_search

    rng = np.random.default_rng(0)

    def unit(n):
        x = rng.normal(size=(n, 8)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    docs = [unit(n) for n in (3, 1, 7, 2, 5, 4)]
    queries = [unit(n) for n in (2, 4, 1)]
    vectors = np.concatenate(docs).astype(np.float16)
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])])
    doc_ids, qids = [f"d{i}" for i in range(len(docs))], ["a", "b", "c"]
    # blocks of about 4 tokens: passages are never split, and several blocks are needed
    from optical.retrieval import late_interaction

    scores = late_interaction.maxsim_scores(queries, vectors, offsets, block_tokens=4)
    for qi, q in enumerate(queries):
        for di, d in enumerate(docs):
            expected = sum(max(float(qt @ dt.astype(np.float16).astype(np.float32)) for dt in d) for qt in q)
            assert scores[qi, di] == pytest.approx(expected, abs=1e-5)
    run = maxsim_search(queries, vectors, offsets, qids, doc_ids, k=3, query_batch=2)
    for qi, qid in enumerate(qids):
        best = sorted(range(len(docs)), key=lambda j: -scores[qi, j])[:3]
        assert list(run[qid]) == [doc_ids[j] for j in best]


def test_token_vectors_in_length_batches_equal_each_text_alone_in_the_given_order(tiny_model):
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from optical.retrieval.late_interaction import token_vectors

    model = SentenceTransformer(str(tiny_model), device="cpu")
    texts = ["a much longer text than the others, with many tokens", "short", "mid length text", "xy"]
    batched = token_vectors(model, texts, batch_size=2)
    for text, vectors in zip(texts, batched):
        alone = token_vectors(model, [text], batch_size=1)[0]
        assert vectors.shape == alone.shape and np.allclose(vectors, alone, atol=1e-5)


def test_maxsim_readout_of_the_teacher_and_bad_readouts(tiny_model, afriqa_dir, tmp_path):
    from optical.eval.system import evaluate

    from optical.retrieval.run_io import read_trec

    result = evaluate("teacher", "afriqa", ["hau"], model=str(tiny_model), readout="maxsim",
                      run_file=tmp_path / "run.trec")
    assert result["readout"] == "maxsim" and result["languages"]["hau"]["n_queries"] == 3
    run = read_trec(tmp_path / "run.trec")
    assert set(run) == {"hau/0", "hau/1", "hau/2"} and all(len(docs) == 4 for docs in run.values())
    with pytest.raises(ValueError, match="readout maxsim needs token vectors"):
        evaluate("bm25", "afriqa", ["hau"], readout="maxsim")
    with pytest.raises(ValueError, match="unknown readout"):
        evaluate("teacher", "afriqa", ["hau"], readout="colbert")
    with pytest.raises(FileNotFoundError, match="directory not found"):
        evaluate(str(tmp_path / "no-such-student"), "afriqa", ["hau"])


@pytest.mark.parametrize("backend", ["faiss", "faiss-hnsw"])
def test_faiss_backends_return_the_exact_top_k(backend):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    docs = rng.normal(size=(500, 16)).astype(np.float32)
    queries = rng.normal(size=(20, 16)).astype(np.float32)
    doc_ids, qids = [f"d{i}" for i in range(500)], [f"q{i}" for i in range(20)]
    reference = exact_search(queries, docs, qids, doc_ids, k=10)
    run = exact_search(queries, docs, qids, doc_ids, k=10, backend=backend)
    for qid in qids:  # HNSW is approximate in general; on 500 points it finds the exact top 10
        assert list(run[qid]) == list(reference[qid])
        np.testing.assert_allclose(list(run[qid].values()), list(reference[qid].values()), rtol=1e-5)
    with pytest.raises(ValueError, match="unknown search backend"):
        exact_search(queries, docs, qids, doc_ids, backend="annoy")


def test_best_evaluation_keeps_the_first_of_equal_best_scores_and_refuses_an_empty_history():
    from optical.eval.selection import best_evaluation

    history = [{"step": 1, "macro": 0.2}, {"step": 2, "macro": 0.3}, {"step": 3, "macro": 0.3},
               {"step": 4, "macro": 0.1}]
    assert best_evaluation(history)["step"] == 2
    with pytest.raises(ValueError, match="dev history is empty"):
        best_evaluation([])


def test_the_dev_criteria_have_dataset_neutral_names(tiny_model, afriqa_dir):
    """The dev evaluator scores the dev queries (``queries``) and the held-out bitext (``bitext``…), named for what
    they measure; the selection score ``macro`` is the one ``select`` names; old dataset names are refused."""
    from optical.data import afriqa
    from optical.eval.dev import DevEvaluator
    from optical.models import load_sentence_transformer

    model = load_sentence_transformer(str(tiny_model))
    tasks, bitexts = {"hau": afriqa.load_task("hau", "dev")}, {"hau": afriqa.mafand_dev("hau")}
    scores = DevEvaluator(model, tasks, bitexts, select="mean")(model)
    assert {"hau", "queries", "bitext", "bitext_top1", "bitext_hau", "bitext_top1_hau", "macro"} == set(scores)
    assert scores["queries"] == scores["hau"] and scores["bitext"] == scores["bitext_hau"]
    assert scores["macro"] == pytest.approx((scores["queries"] + scores["bitext"]) / 2)
    assert DevEvaluator(model, tasks, bitexts, select="bitext")(model)["macro"] == scores["bitext"]
    with pytest.raises(ValueError, match=r"unknown dev selection 'afriqa'; choose one of \('queries', 'bitext'"):
        DevEvaluator(model, tasks, bitexts, select="afriqa")
    with pytest.raises(ValueError, match="needs dev query tasks; none given"):
        DevEvaluator(model, {}, bitexts)
