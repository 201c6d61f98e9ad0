"""The Accelerate engine: several processes (DDP on gloo) and gradient accumulation give the run of one process
with the same global batch; the teacher token cache on disk gives the batches the teacher gives."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import build_tiny_model
from optical.config import config_from_dict
from optical.models import Teacher
from optical import teacher_cache
from optical.teacher_cache import TeacherTokenCache
from optical.train import train
from test_train import PAIRS, bitext

TESTS = Path(__file__).parent


def losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "train_log.jsonl").read_text().splitlines()]


def assert_close_runs(a: Path, b: Path, tol: float) -> None:
    np.testing.assert_allclose(losses(a), losses(b), rtol=tol, atol=tol)
    wa, wb = load_file(a / "student" / "model.safetensors"), load_file(b / "student" / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=tol, rtol=tol)


@pytest.fixture(scope="module")
def no_dropout_model(tmp_path_factory) -> Path:
    """Without dropout a step is a function of the batch alone (several processes draw different masks)."""
    return build_tiny_model(tmp_path_factory.mktemp("no-dropout"), dropout=0.0)


def config(model: Path, **overrides) -> dict:
    # KD and OT are means over the pairs: a batch of 8 cut into 2 x 4 has the gradient of the whole batch
    return {"loss": "ot+kd", "teacher": str(model), "max_steps": 4, "batch_size": 8, "lr": 1e-3, "log_every": 1,
            "eval_every": 0, "checkpoint_every": 2, **overrides}


def test_gradient_accumulation_equals_the_whole_batch(no_dropout_model, tmp_path):
    torch.set_num_threads(1)
    train(config_from_dict(config(no_dropout_model)), bitext(), tmp_path / "whole")
    train(config_from_dict(config(no_dropout_model, grad_accum=2)), bitext(), tmp_path / "accumulated")
    assert_close_runs(tmp_path / "whole", tmp_path / "accumulated", 1e-5)


def test_a_checkpoint_is_renamed_only_after_every_process_has_written_into_it(tmp_path):
    from optical.checkpoint import Checkpointer

    class TwoProcesses:  # the main process; the other one writes its random states when it reaches a barrier
        is_main_process = True

        def __init__(self):
            self.pending = []

        def save_state(self, folder):
            Path(folder, "random_states_0.pkl").write_bytes(b"0")
            self.pending.append(Path(folder, "random_states_1.pkl"))

        def wait_for_everyone(self):
            for path in self.pending:
                path.write_bytes(b"1")  # FileNotFoundError if the folder was renamed before the other process wrote
            self.pending.clear()

    checkpointer = Checkpointer(tmp_path / "checkpoint", TwoProcesses())
    checkpointer.save({"step": 1}, None)
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == \
        ["random_states_0.pkl", "random_states_1.pkl", "state.json"]
    assert not (tmp_path / "checkpoint.tmp").exists()


@pytest.mark.slow
def test_two_ddp_processes_equal_one_process_with_the_same_global_batch(no_dropout_model, tmp_path, one_thread):
    train(config_from_dict(config(no_dropout_model)), bitext(), tmp_path / "one")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    logs = tmp_path / "logs"  # each process's own stdout and stderr, shown if the run fails
    # --standalone: the rendezvous store binds a port of its own choosing (no free-port probe that another process
    # could take first)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "--log-dir", str(logs), "--redirects", "3", str(TESTS / "ddp_worker.py"),
                           json.dumps(config(no_dropout_model)), str(tmp_path / "two")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, "\n".join(f"--- {f.relative_to(logs)}\n{f.read_text()[-2000:]}"
                                            for f in sorted(logs.rglob("std*.log"))) + done.stderr[-1500:]
    card = json.loads((tmp_path / "two" / "student" / "optical_card.json").read_text())
    assert card["processes"] == 2
    # the same sums in another order (gloo's all-reduce, smaller padded batches): float32 rounding only
    assert_close_runs(tmp_path / "one", tmp_path / "two", 1e-5)


def test_a_batch_too_small_for_the_processes_is_refused(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="cannot be cut into 1 processes x grad_accum 8"):
        train(config_from_dict({"loss": "kd", "teacher": str(tiny_model), "max_steps": 1, "batch_size": 4,
                                "grad_accum": 8}), bitext(), tmp_path)


def test_disk_cache_gives_the_teachers_batches_and_is_reused_without_the_teacher(tiny_model, tmp_path):
    teacher = Teacher(str(tiny_model), "cpu")
    english = [t for _, t in PAIRS]
    cache = TeacherTokenCache(teacher, max_length=16, root=tmp_path / "cache", shard_size=5)
    cache.prepare(english)
    assert len(list((tmp_path / "cache" / cache.key).iterdir())) == 5  # 24 texts in shards of 5
    batch = [english[3], english[17], english[3], english[22]]  # across shards, with a repeat
    got, want = cache.batch(batch), teacher.tokens(batch, 16)
    for field in ("tokens", "content_mask", "attention_mask", "input_ids", "pooled"):
        expected = getattr(want, field)
        if field == "tokens":  # padding positions are zero in the cache
            expected = expected * want.attention_mask[..., None]
        torch.testing.assert_close(getattr(got, field), expected, atol=1e-6, rtol=0)

    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher ran although every shard is on disk")

    teacher.tokens = no_teacher
    again = TeacherTokenCache(teacher, max_length=16, root=tmp_path / "cache", shard_size=5)
    again.prepare(english[::-1])  # another seed's order of the same English side finds the same shards
    torch.testing.assert_close(again.batch(batch).tokens, got.tokens, atol=0, rtol=0)
    some = TeacherTokenCache(teacher, max_length=16, root=tmp_path / "cache", shard_size=5)
    some.prepare(english[1:20:3])  # a subset (a resumed run, another seed's sample) reads the shards that hold it
    torch.testing.assert_close(some.batch([english[4], english[16]]).tokens,
                               cache.batch([english[4], english[16]]).tokens, atol=0, rtol=0)
    assert len(list((tmp_path / "cache" / cache.key).iterdir())) == 5  # no shard of the subset's own
    with pytest.raises(KeyError, match="not prepared"):
        import pickle

        pickle.loads(pickle.dumps(again)).batch(["a sentence never prepared"])


def test_two_runs_filling_one_cache_at_once_both_read_the_teachers_tokens(tiny_model, tmp_path, monkeypatch):
    """Two runs started together prepare the same shard: the second writes it whole while the first is writing
    (the first once lost its half-written files to the second and crashed)."""
    teacher = Teacher(str(tiny_model), "cpu")
    english = [t for _, t in PAIRS][:5]
    first, second = (TeacherTokenCache(teacher, max_length=16, root=tmp_path, shard_size=5) for _ in range(2))
    save = np.save

    def the_other_run_writes_meanwhile(path, array):
        monkeypatch.setattr(teacher_cache.np, "save", save)
        second.prepare(english)
        save(path, array)

    monkeypatch.setattr(teacher_cache.np, "save", the_other_run_writes_meanwhile)
    first.prepare(english)
    want = teacher.tokens(english, 16)
    for cache in (first, second):
        torch.testing.assert_close(cache.batch(english).tokens, want.tokens * want.attention_mask[..., None],
                                   atol=1e-6, rtol=0)
    assert [p.name for p in (tmp_path / first.key).iterdir()] == [first._where[english[0]][0].name]  # no leftovers
