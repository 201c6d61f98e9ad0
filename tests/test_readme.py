"""Every command in README.md's shell blocks is accepted as written: each `optical` command parses with the CLI,
names parameter files, studies, students and chapters that exist; each papermill command names declared
parameters and is one the notebook tests run verbatim; the cheap ones run here as written (training ones with
small parameters)."""

import functools
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import jupytext
import pytest

from optical.book import declared_parameters
from optical.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAPERMILL_RUN_VERBATIM = {"notebooks/09_conclusions.ipynb", "notebooks/02_distillation.ipynb"}
"""The notebooks whose README commands tests/test_notebooks.py runs as written."""


def readme_commands() -> list[list[str]]:
    """Each command of README's ``bash`` blocks as argv: continuations joined, comments dropped, ``&&`` split."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                commands.append(words[:cut])
                words = words[cut + 1:]
    return commands


def optical_argv(command: list[str]) -> list[str] | None:
    """The arguments after ``optical`` (also under ``accelerate launch … -m optical``), else None."""
    if command[0] == "optical":
        return command[1:]
    if command[:2] == ["accelerate", "launch"] and "-m" in command:
        at = command.index("-m")
        return command[at + 2:] if command[at + 1] == "optical" else None
    return None


@functools.cache
def loaded(params_file: str) -> dict:
    from optical.params import load_params

    return load_params(ROOT / params_file)


def check_optical(argv: list[str]) -> None:
    """Parse ``argv`` with the CLI (an unknown option fails), then check what it names exists."""
    from optical.study_spec import studies_of

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:
        raise AssertionError(f"optical {' '.join(argv)}: the CLI refuses it") from stop
    if hasattr(args, "params"):
        params = loaded(args.params)
        study = getattr(args, "study", None)
        for key in [study] if isinstance(study, str) else study or []:
            assert key in studies_of(params), f"optical {' '.join(argv)}: no study {key!r} in {args.params}"
            students = getattr(args, "student", None) or []
            for student in [students] if isinstance(students, str) else students:
                base = re.sub(r"-seed\d+$", "", student)
                assert base in params[key]["variants"], f"{key} has no student {student!r}"


def test_readme_has_the_two_set_up_commands_and_every_command_is_known():
    commands = readme_commands()
    assert commands[:4] == [["pip", "install", "-e", ".[dev]"], ["optical", "book", "--params", "params/full.yaml"],
                            ["pip", "install", "-e", ".[dev]"], ["python", "-m", "pytest"]]
    assert (ROOT / ".ci" / "run").read_text().strip().endswith('pip install -e ".[dev]" && python -m pytest')
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "dev" in extras
    for command in commands:
        if command[0] == "pip":
            assert command[-1] in (".[dev]", "torch") or command[-2:] == ["--index-url",
                                                                         "https://download.pytorch.org/whl/cpu"]
        elif command[0] == "mkdir":
            assert command == ["mkdir", "-p", "scratch"] and "/scratch/" in (ROOT / ".gitignore").read_text()
        elif command[0] == "papermill":
            notebook = command[1]
            assert notebook in PAPERMILL_RUN_VERBATIM, f"{' '.join(command)}: no test runs it as written"
            declared = set(declared_parameters(jupytext.read(ROOT / notebook.replace(".ipynb", ".py"))))
            names = {command[i + 1] for i, w in enumerate(command) if w == "-p"}
            assert names <= declared, f"{notebook}: README passes undeclared {sorted(names - declared)}"
        elif (argv := optical_argv(command)) is not None:
            check_optical(argv)
        elif command[0] == "python" and command[1].startswith("benchmarks/"):
            compile((ROOT / command[1]).read_text(), command[1], "exec")  # the script exists and parses
        else:
            assert command[:3] == ["python", "-m", "pytest"], f"README command nobody checks: {' '.join(command)}"


def test_a_misspelt_readme_command_would_be_caught():
    with pytest.raises(AssertionError, match="refuses"):
        check_optical(["run", "--params", "params/full.yaml", "--studdy", "e5t_long"])
    with pytest.raises(AssertionError, match="no study"):
        check_optical(["run", "--params", "params/full.yaml", "--study", "e5t_lon"])
    with pytest.raises(AssertionError, match="no student"):
        check_optical(["run", "--params", "params/full.yaml", "--study", "e5t_long", "--student", "kd-frozen-seed2"])


SMALL = {"--max-steps": "2", "--batch-size": "4", "--languages": "hau"}
"""What a README training command is run with here: two steps of four pairs, Hausa only."""


@pytest.mark.slow
def test_the_readme_optical_commands_run(tmp_path):
    """`optical run --study …` of stored studies as written (the store read-only: they may train nothing);
    `optical train` as written but for :data:`SMALL` and the output folder."""
    import os

    commands = [optical_argv(c) for c in readme_commands()]
    reading = [a for a in commands if a and a[0] == "run" and "--study" in a and "--fresh" not in a
               and "--student" not in a]
    training = [a for a in commands if a and a[0] == "train"]
    assert reading and training
    env = {**os.environ, "OPTICAL_READ_ONLY": "1"}
    for argv in reading:
        done = subprocess.run([sys.executable, "-m", "optical", *argv], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    argv = list(training[0])
    for i, word in enumerate(argv[:-1]):
        argv[i + 1] = SMALL.get(word, str(tmp_path / "run") if word == "--output-dir" else argv[i + 1])
    done = subprocess.run([sys.executable, "-m", "optical", *argv, "--max-pairs", "8", "--eval-every", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "run" / "student" / "optical_card.json").is_file()
