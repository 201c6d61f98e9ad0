"""optical verify: a retrained student against the store (the comparison on hand-made results; the retraining itself
is the main job's code path, run by `optical verify` as the reproduce chapter shows)."""

import pytest

from optical.verify import compare, report


def dev_result(loss=(0.5, 0.4), history=((125, 0.50), (250, 0.52)), steps=250):
    return {"training": {"log": {"step": [10, 20], "loss": list(loss)}, "steps": steps,
                         "dev_history": [{"step": s, "macro": m, "hau": m} for s, m in history]}}


def read(rr):
    return {"per_query": {"MRR@10": {"hau": {str(i): v for i, v in enumerate(rr)}}}}


def test_an_identical_retrain_reproduces_and_a_changed_one_names_where():
    rows = compare(dev_result(), dev_result(), {"pooled": read([1.0, 0.5])}, {"pooled": read([1.0, 0.5])})
    assert [r["what"] for r in rows] == ["training log", "dev curve", "steps", "test read, pooled"]
    assert all(r["ok"] and r["gap"] == 0 for r in rows)
    assert report(rows).endswith("reproduced within tolerance")
    rows = compare(dev_result(), dev_result(loss=(0.5, 0.41), history=((125, 0.50), (250, 0.52003))),
                   {"pooled": read([1.0, 0.5])}, {"pooled": read([1.0, 1 / 3])})
    by = {r["what"]: r for r in rows}
    assert not by["training log"]["ok"] and by["training log"]["where"] == "loss.[1]"
    assert by["training log"]["gap"] == pytest.approx(0.01)
    assert by["dev curve"]["ok"] and by["dev curve"]["gap"] == pytest.approx(3e-5)  # within 1e-4
    assert not by["test read, pooled"]["ok"] and by["test read, pooled"]["where"] == "MRR@10.hau.1"
    assert "NOT reproduced: training log, test read, pooled" in report(rows)


def test_a_different_shape_is_an_infinite_gap():
    rows = compare(dev_result(), dev_result(history=((125, 0.5),)), {}, {})
    dev = next(r for r in rows if r["what"] == "dev curve")
    assert dev["gap"] == float("inf") and dev["where"] == "length 2 vs 1"


def test_a_student_stored_with_other_parameters_is_refused_before_any_retraining(tmp_path, monkeypatch):
    import optical.studies.students as students
    from optical.io import atomic_write_json
    from optical.params import load_params
    from optical.verify import verify_student

    (tmp_path / "p.yaml").write_text("dataset: afriqa\nteacher: t\nvariants: {kd: {loss: kd}}\n"
                                     "dev: {languages: [hau], train: {max_steps: 10}, students: [kd]}\n")
    params = load_params(tmp_path / "p.yaml", tmp_path)
    atomic_write_json(tmp_path / "results" / "dev" / "kd.json", {"params": {
        "dataset": "afriqa", "languages": ["hau"],
        "train": {"max_steps": 20, "loss": "kd", "teacher": "t", "bitext_version": 3}}})
    monkeypatch.setattr(students, "dev_study", lambda *a, **k: pytest.fail("retrained a student it cannot verify"))
    with pytest.raises(ValueError, match=r"other parameters than dev's today \(train.max_steps: 20 -> 10\)"):
        verify_student(params, "dev", "kd", tmp_path)
