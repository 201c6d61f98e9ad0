"""Notebooks are thin, parameterised and paired; the smoke book builds with no warning."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from optical.book import declared_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_there_are_notebooks():
    assert [n.stem.split("_")[0] for n in NOTEBOOKS] == [f"{i:02d}" for i in range(15)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_parameterised_and_paired(path):
    notebook = jupytext.read(path)
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent", "not paired with an .ipynb"
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    params = ast.parse(tagged[0].source)
    assert all(isinstance(node, ast.Assign) for node in params.body), "the parameters cell holds only assignments"
    assert declared_parameters(notebook)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), \
                f"{path.name} defines a function or class: logic belongs in the optical package"


def test_a_notebook_without_parameters_cell_is_refused(tmp_path):
    source = tmp_path / "nb.py"
    source.write_text("# %%\nx = 1\n")
    with pytest.raises(ValueError, match="parameters"):
        declared_parameters(jupytext.read(source))


@pytest.mark.slow
def test_smoke_book_executes_every_notebook_and_builds_without_warnings(real_cache):
    import shutil

    shutil.rmtree(ROOT / "build" / "smoke", ignore_errors=True)  # its scratch root: every result is computed anew
    env = {**os.environ, "OPTICAL_CACHE_DIR": str(real_cache), "PYTHONUNBUFFERED": "1"}
    main_book = [ROOT / "_build", ROOT / "book" / "executed"]
    before = {p: sorted((f.relative_to(p), f.stat().st_mtime_ns) for f in p.rglob("*")) if p.exists() else None
              for p in main_book}
    done = subprocess.run([sys.executable, "-m", "optical", "book", "--params", "params/smoke.yaml"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    output = done.stdout + done.stderr
    # the build runs with --warningiserror; Sphinx warnings read "<path>: WARNING: ..." (ipykernel's
    # "[IPKernelApp] WARNING |" notice about its local TCP transport is not a book warning)
    assert ": WARNING:" not in output and "Finished generating HTML" in output, output[-3000:]
    html = ROOT / "build" / "smoke" / "_build" / "html"
    method = (html / "book" / "method.html").read_text()
    assert "_static/mathjax/MathJax.js" in method and (html / "_static" / "mathjax" / "MathJax.js").is_file()
    pages = "".join(p.read_text() for p in html.rglob("*.html"))
    assert "cdn.jsdelivr.net" not in pages and "mathjax@" not in pages, "math must not come from a CDN"
    for name in ("02_distillation", "05_alignment", "06_webfaq", "07_multilingual", "08_fair_test", "10_reproduce"):
        assert (html / "book" / "executed" / f"{name}.html").is_file()
    assert_references_by_chapter(html)
    results = ROOT / "build" / "smoke" / "results"
    assert (results / "afriqa-mini" / "ot.json").is_file() and (results / "manifest.json").is_file()
    own = results / "afriqa-mini"  # the smoke's dataset: hau against its own gold passages, 50 questions
    assert (own / "e5s-ot.json").is_file() and (own / "e5-fidelity.json").is_file()
    assert (results / "fair" / "test" / "ot-rel0.5-debias-pooled.json").is_file()
    assert (results / "fair" / "test" / "ot+kd-cos-1-pooled.json").is_file()
    after = {p: sorted((f.relative_to(p), f.stat().st_mtime_ns) for f in p.rglob("*")) if p.exists() else None
             for p in main_book}
    assert after == before, "the smoke book touched the main book"


def assert_references_by_chapter(html: Path) -> None:
    """No page of the built book refers to a chapter by a notebook number ("chapter 12", "notebook 08",
    "chapter-8"), and every relative link points to a file of the build."""
    import re

    for page in html.rglob("*.html"):
        if "_static" in page.relative_to(html).parts:  # the theme's own templates, not pages of the book
            continue
        text = page.read_text()
        visible = re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", " ", text, flags=re.S)
        numbered = re.findall(r"\b(?:chapter|notebook)s?[ -]\d+\b", visible, flags=re.I)
        assert not numbered, f"{page.relative_to(html)}: {numbered[:3]}"
        for href in re.findall(r'href="([^"#:?]+)(?:#[^"]*)?"', text):
            if not href.startswith(("http", "mailto", "//")):
                assert (page.parent / href).resolve().exists(), f"{page.relative_to(html)}: broken link {href}"


def test_reference_check_finds_a_notebook_number_and_a_broken_link(tmp_path):
    (tmp_path / "a.html").write_text('<p>see <a href="b.html">the chapter</a></p>')
    (tmp_path / "b.html").write_text("<p>fine</p>")
    assert_references_by_chapter(tmp_path)
    (tmp_path / "c.html").write_text("<p>as chapter 12 shows</p>")
    with pytest.raises(AssertionError, match="chapter 12"):
        assert_references_by_chapter(tmp_path)
    (tmp_path / "c.html").write_text('<a href="missing.html">x</a>')
    with pytest.raises(AssertionError, match="broken link missing.html"):
        assert_references_by_chapter(tmp_path)


def test_a_failing_notebook_stops_with_its_name_and_cell(tmp_path):
    from optical.book import NotebookFailed, execute_notebooks

    source = tmp_path / "01_broken.py"
    header = (ROOT / "notebooks" / "00_data.py").read_text().split("# ---\n")[1]  # jupytext header, kernelspec
    source.write_text(f'# ---\n{header}# ---\n\n# %% tags=["parameters"]\nx = 1\n\n# %%\ny = x + 1\n\n'
                      f'# %%\nraise ValueError("boom")\n')
    with pytest.raises(NotebookFailed, match=r"01_broken.py failed in cell \[\d+\]: ValueError: boom"):
        execute_notebooks({"x": 2}, [source], tmp_path / "executed", tmp_path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_paired_ipynb_is_in_sync_and_stripped(path):
    import nbformat

    ipynb = path.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.name} is missing: run `jupytext --sync {path.relative_to(ROOT)}`"

    def cells(notebook):
        return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in notebook.cells]

    assert cells(jupytext.read(path)) == cells(jupytext.read(ipynb)), \
        f"{path.name} and {ipynb.name} differ: run `jupytext --sync {path.relative_to(ROOT)}`"
    for cell in nbformat.read(ipynb, as_version=4).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{ipynb.name} holds outputs"


def test_readme_rerender_of_the_conclusions_shows_what_the_book_shows(tmp_path):
    """The README's papermill command for the conclusions chapter runs verbatim (output redirected) and renders the
    same text, every number included, as the main job's build of that chapter (params/full.yaml)."""
    import shlex

    readme = (ROOT / "README.md").read_text()
    line = next(x.strip() for x in readme.splitlines() if x.strip().startswith("papermill notebooks/09_conclusions"))
    args = shlex.split(line)
    args[2] = str(tmp_path / "out.ipynb")  # papermill INPUT OUTPUT ...
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    import nbformat

    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/markdown", ""))
                   for c in out.cells if c.cell_type == "code" for o in c.outputs)
    from optical.params import load_params
    from optical.report.conclusions import chapter

    book = chapter(load_params(ROOT / "params" / "full.yaml", ROOT), ROOT)
    assert text.strip() == book.strip() and "it/s]" not in text  # the book's text, and no progress bar


@pytest.mark.slow
def test_readme_papermill_route_trains_only_what_the_store_lacks(tmp_path):
    """README's papermill commands for chapter 2 run as written (the scratch folder in a temporary one): the first
    trains two students; the second changes one parameter (a second seed) and trains only that seed's students,
    the first two read back from the store untouched."""
    import shlex

    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("## Change a parameter"):]
    block = block[block.index("```bash\n") + 8:block.index("```\n", block.index("```bash"))].replace("\\\n", " ")
    lines = [shlex.split(x) for x in block.splitlines() if x.strip().startswith("papermill notebooks/02_")]
    assert len(lines) == 2
    seeds = tmp_path / "results" / "afriqa-mini" / "seeds"
    for i, args in enumerate(lines):
        args = [str(tmp_path / "02.ipynb") if a == "scratch/02.ipynb" else str(tmp_path) if a == "scratch" else a
                for a in args]
        done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        if i == 0:
            first = {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in seeds.glob("*.json")}
            assert sorted(first) == ["kd-seed0.json", "ot-seed0.json"]
    after = {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in seeds.glob("*.json")}
    assert sorted(after) == ["kd-seed0.json", "kd-seed1.json", "ot-seed0.json", "ot-seed1.json"]
    assert {k: after[k] for k in first} == first, "a stored student was trained or rewritten again"


def checkout_of_the_working_tree(target: Path) -> Path:
    """A fresh git checkout at ``target`` of this working tree as it is (tracked files and untracked ones that git
    does not ignore, uncommitted edits included), committed there, so that ``git status`` there starts clean."""
    import shutil

    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():  # a tracked file deleted in the working tree is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout"]):
        subprocess.run(git + command, cwd=target, check=True, capture_output=True)
    return target


@pytest.mark.slow
def test_the_book_builds_from_the_store_of_a_fresh_checkout_and_leaves_it_unchanged(tmp_path):
    """`optical book --params params/full.yaml --no-run` (the book build without `optical run`) on a fresh checkout
    reads every result it shows from the committed store with the store read-only, and rewrites nothing tracked
    (results, manifest, generated answer): `git status` stays clean. The checkout is a copy: the book builds there,
    never in this working tree."""
    from optical.data.paths import data_dir

    checkout = checkout_of_the_working_tree(tmp_path / "optical")
    env = {**os.environ, "PYTHONPATH": str(checkout), "OPTICAL_DATA_DIR": str(data_dir())}  # its own package
    done = subprocess.run([sys.executable, "-m", "optical", "book", "--params", "params/full.yaml", "--no-run"],
                          cwd=checkout, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"HTML: {checkout}" in done.stdout, "the book must be built in the checkout"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=checkout, capture_output=True, text=True).stdout
    assert status == "", status


def test_manifest_stays_when_results_are_read_back_and_is_rewritten_when_the_parameters_change(tmp_path):
    from optical.io import read_json
    from optical.book import run_book

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "stored.json").write_text("{}")
    params = tmp_path / "params.yaml"
    params.write_text(f"root: {tmp_path}\ndataset: afriqa\n")
    manifest = run_book(params, ["10"], build=False)
    first = manifest.read_bytes()
    assert read_json(manifest)["results_computed_in_this_run"] is False  # 10 only reads
    run_book(params, ["10"], build=False)
    assert manifest.read_bytes() == first, "same parameters, nothing computed: the manifest must stay as it was"
    params.write_text(f"root: {tmp_path}\ndataset: afriqa-own\n")
    run_book(params, ["10"], build=False)
    rewritten = read_json(manifest)
    assert rewritten["params"]["dataset"] == "afriqa-own" and rewritten["results_computed_in_this_run"] is False


def test_every_chapter_of_the_table_of_contents_is_numbered_and_every_notebook_is_in_it():
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["parts"] and all(part.get("numbered") is True for part in toc["parts"]), "a part without numbers"
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert sorted(f"book/executed/{n.stem}" for n in NOTEBOOKS) == sorted(f for f in files if "/executed/" in f)
    assert all((ROOT / f"{f}.md").is_file() for f in files if "/executed/" not in f)


def test_the_page_drops_parameter_and_import_cells_and_folds_the_rest(tmp_path):
    import nbformat

    from optical.book import collapse_code

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("root = '.'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import pandas as pd\nfrom optical.io import read_json"),
        nbformat.v4.new_code_cell("import pandas as pd\npd.DataFrame()"),
        nbformat.v4.new_code_cell("from optical.params import checked_parameters\n\n"
                                  "globals().update(checked_parameters(globals(), 'nb'))"),
        nbformat.v4.new_markdown_cell("# text")])
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, path)
    collapse_code(path)
    tags = [c.metadata.get("tags") for c in nbformat.read(path, as_version=4).cells]
    assert tags == [["parameters", "remove-cell"], ["remove-cell"], ["hide-input"], ["remove-cell"], None]


def test_a_captioned_figure_cell_must_output_its_figure_alone(tmp_path):
    import nbformat

    from optical.book import collapse_code

    image = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    table = nbformat.v4.new_output("display_data", data={"text/html": "<table></table>", "text/plain": "t"})
    caption = {"mystnb": {"figure": {"caption": "the point"}}}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("plot()", metadata=caption, outputs=[image]),
        nbformat.v4.new_code_cell("table()", outputs=[table])]), path)
    collapse_code(path)  # the figure alone, the table in its own cell: fine
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("plot(); table()", metadata=caption, outputs=[image, table])]), path)
    with pytest.raises(ValueError, match=r"cell 0: a captioned figure cell must output images only, got \[\['text/html'"):
        collapse_code(path)


@pytest.mark.slow
def test_readme_study_snippet_runs_as_written():
    """README's second snippet (load, run and read studies) runs verbatim from the repository root and prints each
    student's verdict against KD."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("Studies are loaded, run and read"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("```\n", section.index("```python"))]
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "['kd', 'ot-rel0.5-center-frozen'] 2000 ('pooled', 'maxsim')"  # the typed study
    assert len(lines) == 3 and lines[1].startswith("ot-rel0.5-center-frozen pooled OT better than KD, +0.013")


def test_readme_public_face_snippet_runs_as_written(tmp_path):
    """README's "Use it on your own bitext" snippet runs verbatim (in a scratch folder) and prints a score."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Use it on your own bitext"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("```\n", section.index("```python"))]
    assert len([line for line in code.splitlines() if line.strip() and not line.startswith("#")]) <= 10
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().startswith("test MRR@10 0.")
    assert (tmp_path / "runs" / "readme-student" / "student" / "optical_card.json").is_file()
