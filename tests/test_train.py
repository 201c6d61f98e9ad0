"""Trainer on a tiny model built in the test: CLI, saved student, crash and resume, evaluation."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from optical.cli import main
from optical.data.schema import Bitext
from optical.eval.system import evaluate
from optical.models import StudentQueryEncoder
from optical.config import TrainConfig, config_from_dict
from optical.train import train

PAIRS = [(f"sentensi namba {i} ya mfano", f"example sentence number {i}") for i in range(24)]


def cfg(**values) -> TrainConfig:
    """A config from flat field names (nested ones included), as the YAML parameter files write them."""
    return config_from_dict(values)


def bitext():
    return [Bitext("hau", [s for s, _ in PAIRS], [t for _, t in PAIRS])]


def test_cli_train_saves_a_loadable_student_and_evaluate_reads_it(tiny_model, afriqa_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--languages", "hau,bem", "--loss", "ot+kd", "--teacher", str(tiny_model),
                 "--output-dir", str(out), "--max-steps", "10", "--batch-size", "2", "--eval-every", "5",
                 "--log-every", "1"])
    assert code == 0
    from sentence_transformers import SentenceTransformer

    student = SentenceTransformer(str(out / "student"), device="cpu")
    assert student.encode(["a query"]).shape == (1, 32)
    card = json.loads((out / "student" / "optical_card.json").read_text())
    assert card["loss"] == "ot+kd" and card["steps"] == 10 and card["teacher"] == str(tiny_model)
    assert card["pairs"]["hau"] == 3 and [h["step"] for h in card["dev_history"]] == [5, 10]
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 10 and {"ot", "kd", "loss", "lr"} <= set(log[0])
    assert not (out / "checkpoint").exists() and not (out / "best").exists()  # finished: no resume state left

    result = evaluate(str(out / "student"), "afriqa", ["hau", "bem"], output=tmp_path / "res.json")
    assert result["system"] == "student" and result["languages"]["hau"]["n_queries"] == 3
    assert set(result["per_query"]["MRR@10"]["hau"]) == {"0", "1", "2"}


class Crash(Exception):
    pass


def assert_same_student(run_a, run_b):
    """The saved students of two runs have the same weights, bit for bit."""
    a = load_file(run_a / "student" / "model.safetensors")
    b = load_file(run_b / "student" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=0, rtol=0)


@pytest.mark.parametrize("loss", ["ot", "kd", "token-kd"])
def test_killed_run_resumes_to_the_same_weights(tiny_model, tmp_path, loss):
    torch.set_num_threads(1)
    config = cfg(loss=loss, teacher=str(tiny_model), max_steps=8, batch_size=4, checkpoint_every=3, lr=1e-3,
                 log_every=1)
    full = train(config, bitext(), tmp_path / "full")

    def crash_after_5(step, parts):
        if step == 5:  # checkpoint at 3, crash before the next one at 6
            raise Crash

    with pytest.raises(Crash):
        train(config, bitext(), tmp_path / "resumed", on_step=crash_after_5)
    assert json.loads((tmp_path / "resumed/checkpoint/state.json").read_text())["step"] == 3
    resumed = train(config, bitext(), tmp_path / "resumed")
    assert full.steps == resumed.steps == 8
    assert_same_student(tmp_path / "full", tmp_path / "resumed")
    assert log_steps(tmp_path / "resumed") == log_steps(tmp_path / "full") == list(range(1, 9))


def log_steps(run) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_a_run_killed_before_its_first_checkpoint_starts_its_log_over(tiny_model, tmp_path):
    config = cfg(loss="ot", teacher=str(tiny_model), max_steps=4, batch_size=4, checkpoint_every=3, log_every=1)

    def crash_after_2(step, parts):
        if step == 2:
            raise Crash

    with pytest.raises(Crash):
        train(config, bitext(), tmp_path / "run", on_step=crash_after_2)
    assert not (tmp_path / "run" / "checkpoint").exists() and log_steps(tmp_path / "run") == [1, 2]
    train(config, bitext(), tmp_path / "run")
    assert log_steps(tmp_path / "run") == [1, 2, 3, 4]


def test_a_crash_between_the_checkpoint_renames_resumes_from_the_previous_checkpoint(tiny_model, tmp_path,
                                                                                    monkeypatch):
    from pathlib import Path

    torch.set_num_threads(1)
    config = cfg(loss="ot", teacher=str(tiny_model), max_steps=8, batch_size=4, checkpoint_every=3, lr=1e-3,
                 log_every=1)
    train(config, bitext(), tmp_path / "full")
    rename, out = Path.rename, tmp_path / "resumed"

    def crash_on_the_second_save(self, target):  # the old checkpoint is moved aside, the new one not yet in place
        if self.name == "checkpoint.tmp" and (out / "checkpoint.old").exists():
            raise Crash
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", crash_on_the_second_save)
    with pytest.raises(Crash):
        train(config, bitext(), out)
    monkeypatch.undo()
    assert not (out / "checkpoint").exists() and (out / "checkpoint.tmp/state.json").is_file()
    assert json.loads((out / "checkpoint.old/state.json").read_text())["step"] == 3
    steps = []
    resumed = train(config, bitext(), out, on_step=lambda step, parts: steps.append(step))
    assert steps[0] == 4, "resumed from the checkpoint of step 3, not from step 0"
    assert resumed.steps == 8 and not (out / "checkpoint.old").exists() and not (out / "checkpoint.tmp").exists()
    assert_same_student(tmp_path / "full", out)


def test_resume_keeps_the_best_dev_weights_of_before_the_crash(tiny_model, afriqa_dir, tmp_path):
    from optical.data.afriqa import load_task
    from optical.eval.dev import DevEvaluator
    from optical.models import load_sentence_transformer

    dev = DevEvaluator(load_sentence_transformer(str(tiny_model)), {"hau": load_task("hau", "dev")})
    config = cfg(loss="kd", teacher=str(tiny_model), max_steps=6, batch_size=4, checkpoint_every=4,
                 eval_every=2, lr=3e-2, log_every=1)
    full = train(config, bitext(), tmp_path / "full", evaluator=dev)
    # the best dev step (2) is before the checkpoint (4) and later steps are worse, so only the
    # best weights stored in the checkpoint can give the resumed run the same saved student
    assert full.best_dev == full.dev_history[0]["macro"] > full.dev_history[-1]["macro"]

    def crash_after_5(step, parts):
        if step == 5:
            raise Crash

    with pytest.raises(Crash):
        train(config, bitext(), tmp_path / "resumed", evaluator=dev, on_step=crash_after_5)
    assert set(load_file(tmp_path / "resumed/checkpoint/best.safetensors")) == \
        set(load_file(tmp_path / "resumed/checkpoint/model.safetensors"))
    resumed = train(config, bitext(), tmp_path / "resumed", evaluator=dev)
    assert resumed.dev_history == full.dev_history and resumed.best_dev == full.best_dev
    assert_same_student(tmp_path / "full", tmp_path / "resumed")


@pytest.mark.parametrize("loss", ["ot", "kd"])
def test_frozen_word_embeddings_stay_bit_for_bit_and_the_rest_trains(tiny_model, tmp_path, loss):
    before = load_file(tiny_model / "model.safetensors")
    config = cfg(loss=loss, teacher=str(tiny_model), max_steps=2, batch_size=4, lr=1e-2, freeze_embeddings=True)
    train(config, bitext(), tmp_path / "run")
    after = load_file(tmp_path / "run" / "student" / "model.safetensors")
    word = [k for k in after if k.endswith("word_embeddings.weight")]
    assert len(word) == 1
    torch.testing.assert_close(after[word[0]], before[word[0]], atol=0, rtol=0)
    changed = [k for k in after if k != word[0] and not torch.equal(after[k], before[k])]
    assert any("encoder.layer.0" in k for k in changed) and any("position_embeddings" in k for k in changed)
    unfrozen = load_file(train(cfg(loss=loss, teacher=str(tiny_model), max_steps=2, batch_size=4, lr=1e-2),
                               bitext(), tmp_path / "unfrozen").output_dir / "student" / "model.safetensors")
    assert not torch.equal(unfrozen[word[0]], before[word[0]])  # without the option they move


def test_patience_stops_training_after_evaluations_without_a_new_best(tiny_model, tmp_path):
    scores = iter([0.3, 0.5, 0.4, 0.5, 0.6])  # best at the 2nd evaluation; the 4th only ties it

    def dev(model):
        return {"macro": next(scores)}

    config = cfg(loss="kd", teacher=str(tiny_model), max_steps=10, batch_size=4, eval_every=2, patience=2)
    run = train(config, bitext(), tmp_path / "run", evaluator=dev)
    assert [h["step"] for h in run.dev_history] == [2, 4, 6, 8] and run.steps == 8 and run.best_dev == 0.5
    card = json.loads((tmp_path / "run" / "student" / "optical_card.json").read_text())
    assert card["steps"] == 8 and card["config"]["max_steps"] == 10
    with pytest.raises(ValueError, match="patience must be at least 1"):
        cfg(patience=0)


def test_a_finished_run_is_not_retrained_and_a_different_config_is_refused(tiny_model, tmp_path):
    config = cfg(loss="ot", teacher=str(tiny_model), max_steps=2, batch_size=4)
    first = train(config, bitext(), tmp_path / "run")
    steps = []
    again = train(config, bitext(), tmp_path / "run", on_step=lambda step, parts: steps.append(step))
    assert steps == [] and again.steps == first.steps == 2 and again.wall_s == round(first.wall_s, 1)
    with pytest.raises(ValueError, match="finished run of a different config"):
        train(cfg(loss="kd", teacher=str(tiny_model), max_steps=2, batch_size=4), bitext(), tmp_path / "run")


def test_resume_refuses_a_different_config(tiny_model, tmp_path):
    config = cfg(loss="ot", teacher=str(tiny_model), max_steps=2, batch_size=4, checkpoint_every=1)
    train(config, bitext(), tmp_path / "run", stop_at_step=1)
    with pytest.raises(ValueError, match="different config"):
        train(cfg(loss="kd", teacher=str(tiny_model), max_steps=2, batch_size=4), bitext(), tmp_path / "run")


def test_student_with_a_different_width_gets_a_projection(tiny_model, tmp_path):
    from conftest import build_tiny_model

    wide = build_tiny_model(tmp_path / "wide", hidden=48)
    config = cfg(loss="ot+kd", teacher=str(tiny_model), student=str(wide), max_steps=2, batch_size=4)
    train(config, bitext(), tmp_path / "run")
    from sentence_transformers import SentenceTransformer

    student = SentenceTransformer(str(tmp_path / "run" / "student"), device="cpu")
    vec = student.encode(["hello"])
    assert vec.shape == (1, 32) and abs(float((vec ** 2).sum()) - 1.0) < 1e-5


def test_unknown_system_and_model_errors(tmp_path, afriqa_dir, capsys):
    assert main(["evaluate", "--system", "nope", "--languages", "hau"]) == 2
    assert "unknown system 'nope'" in capsys.readouterr().err
    assert main(["evaluate", "--system", "teacher", "--model", str(tmp_path / "missing"), "--languages", "hau"]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["evaluate", "--system", "bm25", "--languages", "xx"]) == 2
    assert "unknown AfriQA language code" in capsys.readouterr().err


def test_epoch_batches_cover_every_pair_once_and_bucket_by_length():
    from optical.train import epoch_batches

    lengths = [(i * 37) % 100 for i in range(1000)]
    batches = epoch_batches(lengths, 8, seed=0, epoch=0, bucket=10)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(1000))
    assert batches == epoch_batches(lengths, 8, seed=0, epoch=0, bucket=10)  # deterministic
    assert batches != epoch_batches(lengths, 8, seed=0, epoch=1, bucket=10)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 20  # random batches of 8 would spread over most of 0..99


def test_wall_time_accumulates_over_resumed_sessions(tiny_model, tmp_path):
    config = cfg(loss="ot", teacher=str(tiny_model), max_steps=4, batch_size=4, checkpoint_every=2)
    first = train(config, bitext(), tmp_path / "run", stop_at_step=2)
    second = train(config, bitext(), tmp_path / "run")
    card = json.loads((tmp_path / "run" / "student" / "optical_card.json").read_text())
    assert second.wall_s > first.wall_s and card["wall_s"] >= round(first.wall_s, 1)
    # the card says which part was this attempt: steps 2-4, its own time only
    assert second.resumed_from == 2 == card["resumed_from_step"] and first.resumed_from == 0
    assert card["attempt_wall_s"] == pytest.approx(second.attempt_wall_s, abs=0.1)
    # the wall time of every attempt counts the first one's too (the card rounds to 0.1 s: compared unrounded)
    assert 0 < second.attempt_wall_s < second.wall_s and card["attempt_wall_s"] <= card["wall_s"]


def test_unknown_marginals_fail_loudly(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="marginals: 'tfidf' is not one of uniform, idf"):
        train(cfg(loss="ot", teacher=str(tiny_model), marginals="tfidf", max_steps=1), bitext(), tmp_path)


def test_query_prompt_is_prepended_and_left_out_of_the_transported_tokens():
    from optical.models import load_sentence_transformer

    model = load_sentence_transformer("all-MiniLM-L6-v2", "cpu")  # the tiny model's vocabulary gives only [UNK]
    plain = StudentQueryEncoder(model)(["ina ne birnin"])
    model.prompts["query"] = "query: "
    prompted = StudentQueryEncoder(model)(["ina ne birnin"])
    n_prompt = len(model.tokenizer("query:", add_special_tokens=False)["input_ids"])
    assert n_prompt > 0
    assert int(prompted.attention_mask.sum()) == int(plain.attention_mask.sum()) + n_prompt
    assert torch.equal(prompted.input_ids[prompted.content_mask], plain.input_ids[plain.content_mask])


def test_document_prompt_changes_the_cached_matrix(tiny_model):
    from optical.models import load_sentence_transformer
    from optical.retrieval.dense import teacher_documents

    model = load_sentence_transformer(str(tiny_model), "cpu")
    corpus = {"d1": "the capital of nigeria", "d2": "a river in kenya"}
    plain = teacher_documents(model, corpus)
    model.prompts["document"] = "passage: "
    prompted = teacher_documents(model, corpus)
    expected = model.encode(["passage: " + corpus[d] for d in sorted(corpus)], normalize_embeddings=True)
    assert not np.allclose(plain, prompted)
    np.testing.assert_allclose(prompted, expected, atol=1e-6)


def test_least_squares_projection_maps_the_student_onto_the_targets():
    from optical.models import load_sentence_transformer

    student = StudentQueryEncoder(load_sentence_transformer("all-MiniLM-L6-v2", "cpu"), teacher_dim=8, project=True)
    student.eval()
    texts = [s for s, _ in PAIRS[:6]]  # fewer texts than dimensions: an exact fit exists
    targets = torch.nn.functional.normalize(torch.randn(len(texts), 8, generator=torch.Generator().manual_seed(0)),
                                            dim=-1)
    assert student.fit_projection(texts, targets, ridge=0.0) == pytest.approx(1.0, abs=1e-4)
    torch.testing.assert_close(student(texts).pooled, targets, atol=1e-3, rtol=0)
    shrunk = student.projection.weight.norm()
    student.fit_projection(texts, targets, ridge=1.0)
    assert student.projection.weight.norm() < shrunk
    with pytest.raises(ValueError, match="no projection"):
        StudentQueryEncoder(student.model).fit_projection(texts, targets)


def test_a_projection_fitted_on_pairs_maps_l_sentences_onto_their_translations(tiny_model, tmp_path, monkeypatch):
    """``projection_fit: pairs`` fits the student's L sentences onto the teacher's vectors of their English
    translations (what a query needs); the default fits the student's English sentences onto the teacher's."""
    from conftest import build_tiny_model

    from optical.models import StudentQueryEncoder
    from optical.train import build_components

    wide = build_tiny_model(tmp_path / "wide", hidden=48)
    fits = {}

    def record(self, texts, targets, max_length=None, **kwargs):
        fits[config.projection_fit] = (texts, targets)
        return fit_projection(self, texts, targets, max_length, **kwargs)

    fit_projection = StudentQueryEncoder.fit_projection
    monkeypatch.setattr(StudentQueryEncoder, "fit_projection", record)
    shuffled = [Bitext("hau", [s for s, _ in PAIRS[::-1]], [t for _, t in PAIRS[::-1]])]  # pairs stay pairs
    for fit in ("english", "pairs"):
        config = cfg(loss="kd", teacher=str(tiny_model), student=str(wide), projection="lstsq", projection_fit=fit)
        c = build_components(config, shuffled, 1, "cpu")
    english = {t: c.cache.batch([t], "cpu").pooled[0] for _, t in PAIRS}
    for fit, side in (("english", 1), ("pairs", 0)):
        texts, targets = fits[fit]
        assert texts == [pair[side] for pair in PAIRS[::-1]]
        for (source, translation), target in zip(PAIRS[::-1], targets):
            torch.testing.assert_close(target, english[translation])  # the teacher's vector of the translation
    with pytest.raises(ValueError, match="projection_fit: 'queries' is not one of english, pairs"):
        cfg(projection_fit="queries")


def test_unknown_projection_fails_loudly(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="projection: 'pca' is not one of auto, lstsq"):
        train(cfg(loss="kd", teacher=str(tiny_model), projection="pca", max_steps=1), bitext(), tmp_path)


@pytest.mark.parametrize("flags, message", [
    (["--max-steps", "0"], "max_steps must be at least 1"),
    (["--max-steps", "-5"], "max_steps must be at least 1"),
    (["--epsilon", "0"], "epsilon must be positive"),
    (["--loss", "otkd"], "unknown loss 'otkd'"),
    (["--debias", "--unbalanced", "1.0"], "balanced OT only"),
])
def test_cli_train_refuses_bad_options_before_loading_anything(flags, message, tmp_path, capsys, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("a model or data was loaded before the options were checked")

    monkeypatch.setattr("optical.data.training.training_bitext", no_loading)
    assert main(["train", "--output-dir", str(tmp_path / "run"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_cli_flags_map_to_config_fields_and_config_names_the_bad_field():
    import argparse

    from optical.config import add_config_arguments, config_from_arguments

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    config = config_from_arguments(parser.parse_args(
        ["--debias", "--kd-metric", "cosine", "--loss", "ot+kd", "--loss-weights", "ot=2,kd=0.5",
         "--epsilon-relative", "0.3", "--no-content-only", "--eval-every", "0"]))
    assert config.ot.debias and config.kd_metric == "cosine" and config.loss_weights == {"ot": 2.0, "kd": 0.5}
    assert config.ot.epsilon_relative == 0.3 and not config.ot.content_only and config.eval_every == 0
    assert config_from_arguments(parser.parse_args([])) == TrainConfig()  # one set of defaults
    with pytest.raises(ValueError, match="kd_metric: 'l1' is not one of mse, cosine"):
        cfg(kd_metric="l1")
    with pytest.raises(ValueError, match="weights given for components"):
        cfg(loss="ot", loss_weights={"kd": 1.0})


def test_training_log_is_strict_json_when_the_solver_makes_no_check(tiny_model, tmp_path):
    def strict(constant):
        raise ValueError(f"{constant} in the training log")

    train(cfg(loss="ot", teacher=str(tiny_model), max_steps=2, batch_size=4, log_every=1, check_every=0),
          bitext(), tmp_path / "run")
    lines = [json.loads(line, parse_constant=strict) for line in (tmp_path / "run" / "train_log.jsonl").open()]
    assert [line["step"] for line in lines] == [1, 2] and all(line["marginal_error"] is None for line in lines)
    assert all(line["sinkhorn_iters"] == 100 for line in lines)  # max_iter iterations, no early stop


def test_a_replay_stopped_at_the_runs_best_step_saves_the_student_the_run_kept(tiny_model, tmp_path):
    from optical.replay import check_replay, save_best_of_replay

    def evaluator():  # dev scores by evaluation: the best is the second (step 2 of 4)
        scores = iter([0.5, 0.9, 0.7, 0.6])
        return lambda model: {"macro": next(scores), "bitext": 0.1}

    config = cfg(loss="ot", teacher=str(tiny_model), max_steps=4, batch_size=4, eval_every=1, checkpoint_every=1)
    run = train(config, bitext(), tmp_path / "run", evaluator())
    assert [h["step"] for h in run.dev_history] == [1, 2, 3, 4]
    train(config, bitext(), tmp_path / "replay", evaluator(), stop_at_step=2)
    again = train(config, bitext(), tmp_path / "replay", evaluator(), stop_at_step=2)  # already there: no step 3
    assert again.steps == 2 and [h["step"] for h in again.dev_history] == [1, 2]
    assert json.loads((tmp_path / "replay" / "checkpoint" / "state.json").read_text())["step"] == 2
    saved = save_best_of_replay(tmp_path / "replay", config, bitext(), run.dev_history)
    assert_same_student(tmp_path / "run", tmp_path / "replay")  # bit for bit: the weights of step 2
    card = json.loads((saved / "optical_card.json").read_text())
    assert card["dev_history"] == run.dev_history and card["replayed_to_step"] == 2 and card["steps"] == 4
    assert card["replay"] == {"exact": True, "tolerance": 1e-3, "max_dev_difference": 0.0}

    other = [dict(h, bitext=0.2) if h["step"] == 1 else h for h in run.dev_history]
    with pytest.raises(ValueError, match="at step 1 differs from the run's"):
        save_best_of_replay(tmp_path / "replay", config, bitext(), other)
    later = [dict(h, macro=1.0) if h["step"] == 4 else h for h in run.dev_history]
    with pytest.raises(ValueError, match="at step 2: the run's best step 4 is not reached"):
        save_best_of_replay(tmp_path / "replay", config, bitext(), later)
    with pytest.raises(ValueError, match="holds no checkpoint"):
        save_best_of_replay(tmp_path / "run", config, bitext(), run.dev_history)  # finished: no checkpoint left
    check_replay(run.dev_history[:2], run.dev_history)
    with pytest.raises(ValueError, match="replay has 4 dev evaluations, the run 2"):
        check_replay(run.dev_history, run.dev_history[:2])

    # a near replay (another floating-point path): every number within atol and the same best step
    near = [dict(h, macro=h["macro"] + 0.004, bitext=h["bitext"] - 0.002) for h in run.dev_history]
    with pytest.raises(ValueError, match=r"at step 1 differs from the run's \(largest difference 0.004, tolerance "
                                         r"0.001, macro bit for bit\)"):
        check_replay(run.dev_history, near)
    with pytest.raises(ValueError, match=r"largest difference 0.004, tolerance 0.001\)"):
        check_replay(run.dev_history, near, exact=False)
    assert check_replay(run.dev_history, near, atol=0.01, exact=False) == {
        "exact": False, "tolerance": 0.01, "max_dev_difference": pytest.approx(0.004)}
    saved = save_best_of_replay(tmp_path / "replay", config, bitext(), near, atol=0.01, exact=False)
    assert json.loads((saved / "optical_card.json").read_text())["replay"] == {
        "exact": False, "tolerance": 0.01, "max_dev_difference": pytest.approx(0.004)}
    best_moved = [dict(h, macro=0.95) if h["step"] == 1 else h for h in run.dev_history]  # replay's best: step 2
    with pytest.raises(ValueError, match="replay's best dev evaluation is at step 2, the run's .* at 1"):
        check_replay(run.dev_history, best_moved, atol=0.5, exact=False)
