"""The package's shape: no import cycle between its modules, counting imports inside functions."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "optical"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of ``optical`` → the ``optical`` modules it imports anywhere in its body (``from a import b``
    counts as ``a.b`` when that is a module, else ``a``), except under ``if TYPE_CHECKING:`` (never run)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                node.body = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                            for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_optical():
    graph = import_graph()
    assert "optical.e5_offline" in graph["optical.models"]  # the graph sees imports
    assert cycles(graph) == []


def test_reading_results_loads_neither_torch_nor_scipy():
    """The results-reading path (the store, the study schema, report/ and the opening answer) imports no torch and
    no scipy: a reader of results/ needs neither (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "import optical, optical.store, optical.study_spec, optical.report.tables\n"
            "import optical.report.summary, optical.report.conclusions, optical.report.labels, optical.report.abstract\n"
            "optical.report.abstract.abstract_rows('results', [{'name': 'e5t', 'study': 'e5t_long', 'who': '',\n"
            "                                                  'space': 'me5', 'shares': ''}])\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'scipy', 'transformers'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_report_imports_neither_the_trainer_nor_torch():
    """The reading side: no module of ``optical.report`` reaches the trainer, the studies' runners, the models or
    torch, directly or through another optical module (anywhere in its body); and importing every one of them in a
    fresh interpreter loads no torch."""
    import subprocess
    import sys

    graph = import_graph()
    forbidden = {"optical.train", "optical.models", "optical.teacher_cache", "optical.replay", "optical.eval.system"} | {
        m for m in graph if m.startswith(("optical.studies", "optical.retrieval"))}
    report = [m for m in graph if m.startswith("optical.report")]
    for module in report:
        reach, todo = set(), [module]
        while todo:
            for target in graph[todo.pop()] - reach:
                reach.add(target)
                todo.append(target)
        assert not reach & forbidden, f"{module} reaches {sorted(reach & forbidden)}"
        source = (PACKAGE.parent / (module.replace(".", "/") + ".py"))
        source = source if source.is_file() else source.with_suffix("") / "__init__.py"
        assert "import torch" not in source.read_text(), module
    code = "import sys\n" + "".join(f"import {m}\n" for m in report) + "print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
