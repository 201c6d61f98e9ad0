"""Studies as data (optical.study_spec): variants defined once, students = variant × seeds, dev rules checked."""

from pathlib import Path

import pytest

from optical.io import atomic_write_json, read_json
from optical.params import load_params
from optical.study_spec import check_choices, compile_studies, resolve_variants

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = {"kd": {"loss": "kd"}, "ot": {"loss": "ot", "epsilon": 0.05},
            "ot-star": {"extends": "ot", "epsilon": 0.01, "marginals": "idf"},
            "ot-star-long": {"extends": "ot-star", "max_iter": 500}}


def test_a_variant_extends_another_and_its_own_options_win():
    resolved = resolve_variants(REGISTRY)
    assert resolved["ot-star-long"] == {"loss": "ot", "epsilon": 0.01, "marginals": "idf", "max_iter": 500}
    with pytest.raises(ValueError, match=r"full.yaml: variants.a: extends itself through a -> b -> a"):
        resolve_variants({"a": {"extends": "b"}, "b": {"extends": "a"}}, "full.yaml: ")
    with pytest.raises(ValueError, match="variants.a: extends unknown variant 'c'"):
        resolve_variants({"a": {"extends": "c"}})


def test_students_are_variants_times_seeds_named_as_the_runners_read_them():
    params = {"variants": REGISTRY, "study": {"languages": ["hau"], "train": {"seed": 0, "max_steps": 5},
                                              "students": ["kd", {"ot-star": [0, 2]}], "seeds": [0, 1]}}
    compiled = compile_studies(params)
    study = compiled["study"]
    assert "variants" not in compiled  # the registry is resolved into the studies
    assert study["variants"] == {"kd": {"loss": "kd"}, "kd-seed1": {"loss": "kd", "seed": 1},
                                 "ot-star": {"loss": "ot", "epsilon": 0.01, "marginals": "idf"},
                                 "ot-star-seed2": {"loss": "ot", "epsilon": 0.01, "marginals": "idf", "seed": 2}}
    assert "students" not in study and "seeds" not in study


@pytest.mark.parametrize("section, message", [
    ({"students": ["nope"]}, r"p.yaml: study.students\[0\]: unknown variant 'nope'"),
    ({"students": ["kd"], "variants": {}}, "its students or its variants, not both"),
    ({"students": ["kd"], "budget": 3}, r"unknown keys \['budget'\]"),
    ({"students": ["kd", "kd"]}, "student 'kd' listed twice"),
    ({"students": ["kd"], "chosen_on_dev": {"ot": {"study": "fair", "among": "ot"}}}, "'ot' is not a student"),
])
def test_a_bad_study_is_refused_naming_the_file_and_the_place(section, message):
    with pytest.raises(ValueError, match=message):
        compile_studies({"variants": REGISTRY, "study": section}, "p.yaml: ")


def test_every_committed_result_of_a_study_was_made_with_what_the_parameters_compile_to():
    """The reuse guarantee: each dev-study result and each test read under results/<study> carries the training
    parameters its study's students compile to, so the main job reads it back instead of retraining."""
    from optical.data.training import student_train_params

    p = load_params(ROOT / "params" / "full.yaml")
    checked = 0
    for key in ("fair", "curves", "long_curves", "rerun", "long_rerun", "e5t_dev"):
        s = p[key]
        for name, variant in s["variants"].items():
            train = student_train_params(p, key, name)  # the bitext version written out (default: current)
            assert read_json(ROOT / "results" / key / f"{name}.json")["params"]["train"] == train, (key, name)
            checked += 1
            for read in (ROOT / "results" / key / "test" / "seeds").glob(f"{name}-*.json"):
                if read.stem.removeprefix(name + "-") in ("pooled", "maxsim"):
                    assert read_json(read)["params"]["train"] == {k: v for k, v in train.items() if k != "teacher"}, \
                        read
    assert checked == 12 + 4 + 2 + 12 + 12 + 9


def test_a_dev_choice_is_checked_against_the_dev_study(tmp_path):
    p = compile_studies({"variants": REGISTRY, "final": {"students": ["kd", "ot-star"], "chosen_on_dev": {
        "ot-star": {"study": "dev", "among": "ot"}}}})
    assert check_choices(p, "final", tmp_path) == ["ot-star: not checked (dev has not run all its candidates yet)"]
    for name, score in (("ot", 0.30), ("ot-star", 0.32), ("ot-star-seed1", 0.30), ("ot+kd", 0.5)):
        atomic_write_json(tmp_path / "results" / "dev" / f"{name}.json", {"training": {"best_dev_macro_mrr10": score}})
    atomic_write_json(tmp_path / "results" / "dev" / "ot.json", {"training": {"best_dev_macro_mrr10": 0.33}})
    with pytest.raises(ValueError, match=r"'ot-star' is not the dev choice.*\['ot'\]"):  # ot+kd is not among ot
        check_choices(p, "final", tmp_path)
    atomic_write_json(tmp_path / "results" / "dev" / "ot.json", {"training": {"best_dev_macro_mrr10": 0.31}})
    assert "tied with ot" in check_choices(p, "final", tmp_path)[0]  # mean over seeds: (0.32 + 0.30) / 2 = 0.31


def test_optical_run_lists_the_studies_and_names_an_unknown_one(tmp_path, capsys):
    from optical.cli import main
    from optical.studies.runner import studies_of

    p = load_params(ROOT / "params" / "full.yaml")
    assert {"fair", "curves", "long_rerun"} <= set(studies_of(p))
    assert main(["run", "--params", str(ROOT / "params" / "full.yaml"), "--study", "nope"]) == 2
    assert "no study 'nope'" in capsys.readouterr().err


def test_a_best_of_rule_resolves_to_the_dev_winner_and_waits_for_its_dev_study(tmp_path):
    from optical.study_spec import resolve_pending, tested_students

    params = {"variants": REGISTRY,
              "dev": {"languages": ["hau"], "train": {"seed": 0}, "students": ["kd", "ot", "ot-star", "ot-star-long"],
                      "tested": ["kd", {"best_of": {"study": "dev", "among": "ot"}}]},
              "final": {"languages": ["hau"], "train": {"seed": 0}, "seeds": [0, 1],
                        "students": ["kd", {"best_of": {"study": "dev", "among": "ot"}}]}}
    waiting = compile_studies(params, root=tmp_path)
    assert list(waiting["final"]["variants"]) == ["kd", "kd-seed1"]
    assert waiting["final"]["pending"] == [{"rule": {"study": "dev", "among": "ot"}, "seeds": [0, 1], "base_seed": 0}]
    with pytest.raises(ValueError, match="'final' cannot run yet: the best ot variant of dev is not known"):
        resolve_pending(waiting, "final", tmp_path)
    with pytest.raises(ValueError, match="'dev' cannot run yet"):
        tested_students(waiting, "dev", tmp_path)
    # no choice on part of the dev study: one OT candidate has run, the others not yet
    atomic_write_json(tmp_path / "results" / "dev" / "ot.json", {"training": {"best_dev_macro_mrr10": 0.30}})
    assert compile_studies(params, root=tmp_path)["final"]["pending"]
    # a tie (the longer solver reaches the same score) resolves to the first in the dev study's order; a result of
    # a variant the dev study no longer declares does not count
    for name, score in (("kd", 0.5), ("ot-star", 0.32), ("ot-star-long", 0.32), ("ot-old", 0.9)):
        atomic_write_json(tmp_path / "results" / "dev" / f"{name}.json", {"training": {"best_dev_macro_mrr10": score}})
    assert tested_students(waiting, "dev", tmp_path) == ["kd", "ot-star"]
    resolved = resolve_pending(waiting, "final", tmp_path)  # at run time, from the parameters compiled before
    final = compile_studies(params, root=tmp_path)["final"]  # at load time, once the dev results exist
    assert resolved == final and "pending" not in final
    assert final["variants"] == {"kd": {"loss": "kd"}, "kd-seed1": {"loss": "kd", "seed": 1},
                                 "ot-star": {"loss": "ot", "epsilon": 0.01, "marginals": "idf"},
                                 "ot-star-seed1": {"loss": "ot", "epsilon": 0.01, "marginals": "idf", "seed": 1}}
    assert final["chosen_on_dev"] == {"ot-star": {"study": "dev", "among": "ot"}}
    assert "tied with ot-star-long" in check_choices(compile_studies(params, root=tmp_path), "final", tmp_path)[0]
    with pytest.raises(ValueError, match=r"students\[0\].best_of: give the dev study"):
        compile_studies({**params, "final": {**params["final"], "students": [{"best_of": {"study": "dev"}}]}})
    with pytest.raises(ValueError, match=r"dev.tested\[0\]: 'nope' is not a student"):
        tested_students({**waiting, "dev": {**waiting["dev"], "tested": ["nope"]}}, "dev", tmp_path)


def test_a_study_that_reads_test_must_declare_its_readouts(tmp_path, monkeypatch):
    from optical.studies import runner

    monkeypatch.setattr(runner, "dev_study", lambda *args: {})  # no training: only the test decision is checked
    p = compile_studies({"variants": REGISTRY, "dev": {"languages": ["hau"], "train": {"seed": 0},
                                                       "students": ["kd", "ot"], "tested": ["kd", "ot"]}})
    with pytest.raises(ValueError, match="dev: a study that reads the test split must declare its readouts"):
        runner.run_study(p, "dev", tmp_path)


def test_a_run_of_some_students_trains_only_them_and_leaves_the_claim_to_the_whole_study(tmp_path, monkeypatch,
                                                                                          capsys):
    from optical.cli import main
    from optical.studies import runner

    calls = []
    monkeypatch.setattr(runner, "dev_study", lambda p, key, root, fresh, only=None: calls.append(only) or {})
    monkeypatch.setattr(runner, "final_test", lambda *args: calls.append("final_test") or {"read": {}})
    p = compile_studies({"variants": REGISTRY, "final": {"languages": ["hau"], "train": {"seed": 0}, "seeds": [0, 1],
                                                         "students": ["kd", "ot"], "final": True,
                                                         "readouts": ["pooled"]}})
    assert runner.run_study(p, "final", tmp_path, only=["ot-seed1"]) == {"dev": {}, "test": {}}
    assert calls == [["ot-seed1"]]  # no seed means and no claim test from part of the students
    assert runner.run_study(p, "final", tmp_path)["test"] == {"read": {}}
    assert calls[1:] == [None, "final_test"]
    assert main(["run", "--params", str(ROOT / "params" / "full.yaml"), "--student", "kd"]) == 2
    assert "give exactly one --study" in capsys.readouterr().err


def test_a_combination_takes_every_change_that_beat_its_base_and_waits_for_them(tmp_path):
    from optical.study_spec import combination_lines, declared_students, resolve_pending

    registry = {"kd": {"loss": "kd"}, "kd-frozen": {"loss": "kd", "freeze_embeddings": True},
                "kd-frozen-lr5e-4": {"loss": "kd", "freeze_embeddings": True, "lr": 5e-4},
                "kd-frozen-lr2e-4": {"loss": "kd", "freeze_embeddings": True, "lr": 2e-4},
                "kd-frozen-center": {"loss": "kd", "freeze_embeddings": True, "kd_center": True},
                "kd-frozen-cosine": {"loss": "kd", "freeze_embeddings": True, "kd_metric": "cosine"},
                "ot": {"loss": "ot"}}
    combine = {"combine": {"base": "kd-frozen", "among": "kd", "name": "kd-combined"}}
    params = {"variants": registry,
              "dev": {"languages": ["hau"], "train": {"seed": 0}, "students": [*registry, combine]},
              "final": {"languages": ["hau"], "train": {"seed": 0},
                        "students": [{"best_of": {"study": "dev", "among": "kd"}}]}}
    scores = {"kd": 0.51, "kd-frozen": 0.50, "kd-frozen-lr5e-4": 0.55, "kd-frozen-lr2e-4": 0.52,
              "kd-frozen-center": 0.53, "kd-frozen-cosine": 0.49}  # ot is not of the family: never waited for
    for name, score in list(scores.items())[:-1]:
        atomic_write_json(tmp_path / "results" / "dev" / f"{name}.json", {"training": {"best_dev_macro_mrr10": score}})
    waiting = compile_studies(params, root=tmp_path)
    assert "kd-combined" not in waiting["dev"]["variants"] and waiting["dev"]["pending"][0]["combine"]
    assert declared_students(waiting["dev"])[-1] == "kd-combined"
    assert "declared once they have all run" in combination_lines(waiting["dev"])[0]
    assert waiting["final"]["pending"], "a study choosing among kd waits for the combination"
    atomic_write_json(tmp_path / "results" / "dev" / "kd-frozen-cosine.json",
                      {"training": {"best_dev_macro_mrr10": 0.49}})
    dev = resolve_pending(waiting, "dev", tmp_path)  # at run time, once the other students have run
    assert dev == compile_studies(params, root=tmp_path)["dev"] and "pending" not in dev
    # lr: the better of the two lr changes; unfreezing (kd beat kd-frozen) and centring; cosine lost
    assert dev["variants"]["kd-combined"] == {"loss": "kd", "freeze_embeddings": False, "lr": 5e-4, "kd_center": True}
    assert dev["combined"] == {"kd-combined": {"base": "kd-frozen", "among": "kd", "from": [
        "kd-frozen-lr5e-4", "kd-frozen-center", "kd-frozen-lr2e-4", "kd"]}}
    assert compile_studies(params, root=tmp_path)["final"]["pending"], "the combined student has no dev result yet"
    atomic_write_json(tmp_path / "results" / "dev" / "kd-combined.json", {"training": {"best_dev_macro_mrr10": 0.58}})
    assert list(compile_studies(params, root=tmp_path)["final"]["variants"]) == ["kd-combined"]
    line, = combination_lines(dev)
    assert all(f"`{name}`" in line for name in ["kd-combined", *dev["combined"]["kd-combined"]["from"]])
    # one change that helped: the combination is that student, not a second copy of it
    for name in ("kd", "kd-frozen-lr2e-4", "kd-frozen-center"):
        atomic_write_json(tmp_path / "results" / "dev" / f"{name}.json", {"training": {"best_dev_macro_mrr10": 0.4}})
    dev = compile_studies(params, root=tmp_path)["dev"]
    assert "kd-combined" not in dev["variants"]
    assert dev["combined"]["kd-combined"] == {"base": "kd-frozen", "among": "kd", "from": ["kd-frozen-lr5e-4"],
                                              "same_as": "kd-frozen-lr5e-4"}
    with pytest.raises(ValueError, match=r"students\[7\].combine: base 'nope' is not a student"):
        compile_studies({**params, "dev": {**params["dev"], "students": [*registry, {"combine": {
            "base": "nope", "among": "kd", "name": "x"}}]}})


def test_optical_run_without_a_study_runs_every_chapter_then_every_study_after_the_dev_studies_it_reads(
        tmp_path, monkeypatch):
    """`optical run` alone: each chapter's one call, then every study, a dev study before the studies whose rules
    read it, wherever the file writes it."""
    from optical.cli import main
    from optical.studies import chapters

    (tmp_path / "p.yaml").write_text(
        "teacher: t\ndataset: afriqa\nvariants: {kd: {loss: kd}, ot: {loss: ot}}\n"
        "final: {languages: [hau], train: {seed: 0}, students: [kd, {best_of: {study: dev, among: ot}}]}\n"
        "dev: {languages: [hau], train: {seed: 0}, students: [kd, ot]}\n")
    calls = []
    monkeypatch.setattr(chapters, "CHAPTERS", {"01_baselines": lambda ns, root, fresh: calls.append("01") or {}})
    monkeypatch.setattr(chapters, "run_study", lambda params, key, root, fresh: calls.append(key) or {})
    assert main(["run", "--params", str(tmp_path / "p.yaml"), "--root", str(tmp_path)]) == 0
    assert calls == ["01", "dev", "final"]


def test_a_study_is_typed_and_gives_each_students_training_config():
    """`optical.study(params, key)`: the compiled study as a Study; each student's config is the study's train values
    with the student's options over them and the study's teacher; an unknown study or student is named."""
    import optical
    from optical.params import load_params

    params = load_params(ROOT / "params" / "full.yaml")
    e5t = optical.study(params, "e5t_long")
    assert isinstance(e5t, optical.Study) and e5t.final and e5t.readouts == ("pooled", "maxsim")
    assert e5t.teacher == "multilingual-e5-small" and len(e5t.languages) == 8
    assert sorted(e5t.seeds) == sorted({name.split("-seed")[0] for name in e5t.students})
    ot = next(name for name in e5t.students if name.startswith("ot") and "-seed" not in name)
    config = e5t.config(ot)
    assert config.loss == "ot" and config.student == "multilingual-e5-small" and config.max_steps == 2000
    assert e5t.train_params(ot)["teacher"] == "multilingual-e5-small" and "teacher" not in e5t.train_params(ot, False)
    assert [s.key for s in optical.study_spec.studies_with_role(params, "low_data")][:1] == ["low_data_100"]
    with pytest.raises(KeyError, match="no study 'e5t_lon'"):
        optical.study(params, "e5t_lon")
    with pytest.raises(ValueError, match="no student 'kd-frozen'"):
        e5t.config("kd-frozen")


def test_the_low_data_chapter_lists_a_study_still_running_instead_of_stopping_the_book(tmp_path, monkeypatch):
    """Reading only, a final low-data study with students stored but no seed means yet is listed with its count,
    one with nothing stored with 0, and neither is read (so a session can commit a study it has not finished)."""
    from optical import store
    from optical.io import atomic_write_json
    from optical.layout import Layout
    from optical.studies.chapters import low_data

    monkeypatch.setenv(store.READ_ONLY, "1")
    atomic_write_json(Layout(tmp_path).dev_result("low_data_10", "kd"), {"training": {}})
    atomic_write_json(Layout(tmp_path).test_read("low_data_10", "kd", "pooled"), {"macro": {}})
    ns = {"low_data_10": {"train": {"max_pairs": 10}, "final": True},
          "low_data_e5t_10": {"train": {"max_pairs": 10}, "final": True}}
    out = low_data(ns, tmp_path, False)
    assert out["not_run"] == {"low_data_10": 1, "low_data_e5t_10": 0} and out["runs"] == {"low_data": {},
                                                                                      "low_data_e5t": {}}
