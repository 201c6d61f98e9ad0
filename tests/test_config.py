"""The typed configuration: nested fields, validation naming the field, partial overrides, generated flags, and
the parameter files checked against the same fields."""

import argparse
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from optical.config import LEAVES, TrainConfig, add_config_arguments, config_from_arguments, config_from_dict
from optical.params import load_params

PARAMS = Path(__file__).parents[1] / "params"


def test_flat_and_nested_overrides_are_the_same_config_and_keep_the_other_defaults():
    flat = config_from_dict({"max_steps": 50, "epsilon": 0.01, "max_iter": 300, "check_every": 0})
    nested = config_from_dict({"max_steps": 50, "ot": {"epsilon": 0.01, "sinkhorn": {"max_iter": 300,
                                                                                     "check_every": 0}}})
    assert flat == nested
    assert flat.ot.sinkhorn.max_iter == 300 and flat.ot.sinkhorn.tol == TrainConfig().ot.sinkhorn.tol
    assert flat.lr == TrainConfig().lr and flat.ot.cost == "cosine"  # untouched fields keep their defaults
    assert config_from_dict(asdict(flat)) == flat
    later = config_from_dict({"lr": 3e-4}, base=flat)  # an override of an override
    assert later.lr == 3e-4 and later.ot.sinkhorn.max_iter == 300


@pytest.mark.parametrize("values, message", [
    ({"max_iter": 0}, "ot.sinkhorn.max_iter must be at least 1, got 0"),
    ({"ot": {"epsilon": -1.0}}, "ot.epsilon must be positive, got -1.0"),
    ({"warmup_ratio": 1.0}, "warmup_ratio must be in [0, 1), got 1.0"),
    ({"cost": "l1"}, "ot.cost: 'l1' is not one of cosine, sqeuclidean, sqeuclidean-raw"),
    ({"debias": True, "unbalanced": 1.0}, "balanced OT only"),
    ({"epsilonn": 0.1}, "unknown train parameter 'epsilonn'"),
    ({"ot": {"max_iter": 3}}, "unknown ot parameter 'max_iter'"),
    ({"loss": "ot+mse"}, "unknown loss 'ot+mse'"),
])
def test_bad_values_are_refused_naming_the_field(values, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        config_from_dict(values)


def test_every_leaf_has_one_flag_whose_default_is_the_configs():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    assert config_from_arguments(parser.parse_args([])) == TrainConfig()
    config = config_from_arguments(parser.parse_args(["--max-iter", "7", "--check-every", "0", "--grad-accum", "2"]))
    assert config.ot.sinkhorn.max_iter == 7 and config.ot.sinkhorn.check_every == 0 and config.grad_accum == 2
    flags = {a.dest for a in parser._actions if a.dest != "help"}
    assert flags == set(LEAVES)


@pytest.mark.parametrize("name", sorted(p.name for p in PARAMS.glob("*.yaml") if p.name != "appendix.yaml"))
def test_every_parameter_file_holds_valid_training_sections(name):
    """Each file one runs (appendix.yaml is part of full.yaml, which extends it: checked through it)."""
    load_params(PARAMS / name)  # raises naming the section and the field


def test_a_parameter_file_extends_another_and_overrides_only_what_it_writes(tmp_path):
    (tmp_path / "base.yaml").write_text("train: {max_steps: 100, lr: 1.0e-4, epsilon: 0.05}\nseeds: [0, 1]\n")
    (tmp_path / "more.yaml").write_text("extends: base.yaml\ntrain: {max_steps: 500}\nseeds: [0, 1, 2]\n")
    params = load_params(tmp_path / "more.yaml")
    assert params == {"train": {"max_steps": 500, "lr": 1e-4, "epsilon": 0.05}, "seeds": [0, 1, 2]}
    gpu = load_params(PARAMS / "gpu.yaml")
    assert gpu["train"]["max_steps"] == 3000 and gpu["train"]["lr"] == load_params(PARAMS / "full.yaml")["train"]["lr"]
    (tmp_path / "typo.yaml").write_text("fair:\n  train: {max_step: 3}\n  variants: {kd: {loss: kd}}\n")
    with pytest.raises(ValueError, match="typo.yaml: fair.train: unknown train parameter 'max_step'"):
        load_params(tmp_path / "typo.yaml")


def test_the_cost_names_of_the_config_are_the_costs_the_transport_core_implements():
    from optical.config import COST_NAMES
    from optical.transport import COSTS

    assert COST_NAMES == tuple(COSTS)


def test_reading_results_imports_neither_torch_nor_scipy():
    """A notebook that reads its results back (the main job's reuse path) starts without the heavy imports."""
    import subprocess
    import sys

    code = ("import sys; import optical.studies.students, optical.studies.test_reads, optical.report.tables, optical.report.summary, "
            "optical.report.conclusions, optical.book; "
            "print(sorted(m for m in ('torch', 'scipy.stats', 'sentence_transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_notebook_parameters_are_checked_and_typed(tmp_path):
    """A papermill run's parameters: lists given as text are read as YAML, a misspelt name or a wrong type stops
    the run naming it and the valid names."""
    from optical.params import checked_parameters

    given = {"In": [], "_i1": "", "dataset": "afriqa", "languages": '["hau", "zul"]', "seeds": "[0]", "root": "x"}
    values = checked_parameters(given, "02_distillation")
    assert values["languages"] == ["hau", "zul"] and values["seeds"] == [0] and values["fresh"] is False
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['langauges'\] for 02_distillation; valid: "
                                         r"\['dataset', 'fresh', 'languages'"):
        checked_parameters({**given, "langauges": "hau"}, "02_distillation")
    # a list as written on a command line: papermill -p languages hau,zul -p seeds 0,1 (or -p seeds 0: an int)
    written = checked_parameters({**given, "languages": "hau,zul", "seeds": "0,1", "losses": "kd"}, "02_distillation")
    assert written["languages"] == ["hau", "zul"] and written["seeds"] == [0, 1] and written["losses"] == ["kd"]
    assert checked_parameters({**given, "seeds": 0}, "02_distillation")["seeds"] == [0]
    with pytest.raises(ValueError, match="parameter train: expected dict"):
        checked_parameters({**given, "train": "800"}, "02_distillation")
    assert checked_parameters({**given, "checked_parameters": checked_parameters}, "02_distillation")["root"] == "x"
    assert checked_parameters({**given, "e5t_long": {"final": True}}, "02_distillation")["root"] == "x", \
        "a section of params/full.yaml the notebook does not read (papermill -f params/full.yaml) is no typo"


def test_one_line_adds_a_language_to_every_study_on_all_languages(tmp_path):
    """params/full.yaml writes its language list once: adding a language is a one-line diff, and every study (and
    every other section) on all the languages then has it; the dev studies keep their own three."""
    text = (PARAMS / "full.yaml").read_text()
    line = next(x for x in text.splitlines() if x.startswith("languages: &languages ["))
    assert sum(1 for x in text.splitlines() if "hau, ibo, yor, swa, zul, kin, twi, bem" in x) == 1, \
        "the eight-language list is written once"
    (tmp_path / "full.yaml").write_text(text.replace(line, line.replace("bem]", "bem, wol]")))
    (tmp_path / "appendix.yaml").write_text((PARAMS / "appendix.yaml").read_text())  # what full.yaml extends
    before, after = load_params(PARAMS / "full.yaml"), load_params(tmp_path / "full.yaml")
    everywhere = [k for k, v in before.items() if isinstance(v, dict) and len(v.get("languages") or []) == 8]
    assert len(everywhere) >= 12
    for key in everywhere:
        assert after[key]["languages"] == before[key]["languages"] + ["wol"], key
    assert after["e5t_dev"]["languages"] == ["hau", "zul", "twi"]
    for key in (k for k, v in before.items() if isinstance(v, dict) and "variants" in v):
        same = {k: v for k, v in after[key].items() if k != "languages"}
        assert same == {k: v for k, v in before[key].items() if k != "languages"}, key


def test_a_study_extends_another_and_defaults_sit_under_every_study(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "teacher: t\ndataset: afriqa\ndefaults: {languages: [hau], train: {lr: 1.0e-4, seed: 0}}\n"
        "variants: {kd: {loss: kd}, ot: {loss: ot}}\n"
        "a: {train: {max_steps: 10, seed: 3}, students: [kd], final: true, readouts: [pooled], superseded_by: b}\n"
        "b: {extends: a, train: {max_steps: 20}, students: [ot]}\n")
    p = load_params(tmp_path / "p.yaml")
    assert p["a"]["train"] == {"lr": 1.0e-4, "seed": 3, "max_steps": 10} and p["a"]["languages"] == ["hau"]
    assert p["b"]["train"] == {"lr": 1.0e-4, "seed": 3, "max_steps": 20} and list(p["b"]["variants"]) == ["ot"]
    assert p["b"]["final"] and "superseded_by" not in p["b"] and p["a"]["superseded_by"] == "b"
    (tmp_path / "loop.yaml").write_text("variants: {kd: {loss: kd}}\n"
                                        "a: {extends: b, students: [kd]}\nb: {extends: a, students: [kd]}\n")
    with pytest.raises(ValueError, match="a: extends itself through a -> b -> a"):
        load_params(tmp_path / "loop.yaml")
