"""The package map of docs/architecture.md, enforced.

The arrows are import-linter contracts (``[tool.importlinter]`` in pyproject.toml, run as
``lint-imports`` by ``make lint``). Here: the package keeps them, and each contract fails,
naming itself and the import, when a forbidden import is added to a copy of the package.
Then what import-linter cannot express: no import cycle between modules or sibling
packages, no clock read and no file opened in a policy, no dynamic import that would hide an
arrow from the contracts.
"""

import ast
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tidewise"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = {
    c["id"]: c["name"]
    for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
}


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the project's contracts on the ``tidewise`` package under
    ``root``, its report wide enough that no contract name is wrapped."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "COLUMNS": "500", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def broken_contracts(report: str) -> dict[str, str]:
    """Each broken contract's name and what the report says of it (the text of its section
    under "Broken contracts")."""
    if "Broken contracts" not in report:
        return {}
    lines = report.split("Broken contracts", 1)[1].splitlines()[2:]
    names = set(CONTRACTS.values())
    sections: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if line.strip() in names:
            current = sections.setdefault(line.strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(body) for name, body in sections.items()}


def test_the_package_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


# each: a module added to a copy of the package, what it says, the contract that forbids it
VIOLATIONS = [
    ("placement/bad.py", "from tidewise import sim\n", "layers"),
    ("scaling/bad.py", "from ..kube.api import events\n", "layers"),
    ("plugins/__init__.py", "", "layers"),  # a package that has no place in the layers
    ("scaling/clock.py", "import time\n", "pure"),
    ("fleet/client.py", "import lightkube\n", "pure"),
    ("queue/dice.py", "from random import random\n", "pure"),
    ("capacity/bad.py", "from tidewise.scaling import hpa\n", "capacity-arrows"),
    ("queue/bad.py", "import tidewise.catalog\n", "queue-arrows"),
    ("report/bad.py", "import tidewise.capacity\n", "report-arrows"),
    ("gateways/bad.py", "import tidewise.placement\n", "gateways-arrows"),
    ("kube/provider/bad.py", "from tidewise.kube.extender import state\n", "kube"),
    ("kube/addon/__init__.py", "", "kube"),
    ("sim/jobs/bad.py", "from tidewise.sim.services import twin\n", "sim"),
    ("sim/autoscale/bad.py", "from tidewise.sim.autoscale import bench\n", "harnesses"),
    ("cli/bad.py", "import tidewise.testenv\n", "testenv-importers"),
    ("testenv/bad.py", "from tidewise.model import Resources\n", "testenv-arrows"),
]


def module_named(path: str) -> str:
    return "tidewise." + path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def test_every_contract_fails_on_the_import_it_forbids(tmp_path):
    """One copy of the package with every violation above: each contract is reported broken,
    by the module that breaks it, and no other contract is."""
    shutil.copytree(PACKAGE, tmp_path / "tidewise", ignore=shutil.ignore_patterns("__pycache__"))
    for path, source, _ in VIOLATIONS:
        target = tmp_path / "tidewise" / path
        target.parent.mkdir(exist_ok=True)
        target.write_text(source)
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = broken_contracts(result.stdout)
    assert set(broken) == {CONTRACTS[contract] for _, _, contract in VIOLATIONS}
    assert set(broken) == set(CONTRACTS.values())  # every contract shown to fail
    for path, _, contract in VIOLATIONS:
        assert module_named(path) in broken[CONTRACTS[contract]], (contract, path)


# --- cycles: import-linter checks the arrows it is given, not every cycle -------------------


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every cycle of imports, as the sorted names in it: between modules, and between the
    children of any one package (each child standing for everything inside it)."""
    found = strongly_connected(graph.modules, graph.find_modules_directly_imported_by)
    for package in graph.modules:
        children = graph.find_children(package)
        if len(children) < 2:
            continue

        def child_of(module: str, children: frozenset[str] = frozenset(children)) -> str | None:
            return next((c for c in children if module == c or module.startswith(c + ".")), None)

        edges: dict[str, set[str]] = {c: set() for c in children}
        for child in children:
            for module in {child} | graph.find_descendants(child):
                for imported in graph.find_modules_directly_imported_by(module):
                    target = child_of(imported)
                    if target is not None and target != child:
                        edges[child].add(target)
        found += strongly_connected(children, edges.__getitem__)
    return [list(cycle) for cycle in sorted({tuple(cycle) for cycle in found})]


def strongly_connected(nodes: Iterable[str], edges_of) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges_of(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges_of(successor)))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def test_no_import_cycle_in_the_package():
    assert cycles(grimp.build_graph("tidewise", cache_dir=None)) == []


def test_the_cycle_check_sees_module_and_package_cycles():
    graph = grimp.ImportGraph()
    for module in ("t", "t.a", "t.a.x", "t.b", "t.b.y", "t.c", "t.c.p", "t.c.q"):
        graph.add_module(module)
    graph.add_import(importer="t.a.x", imported="t.b.y")  # package a -> b
    graph.add_import(importer="t.b.y", imported="t.a")  # and b -> a: a cycle of packages
    graph.add_import(importer="t.c.p", imported="t.c.q")
    graph.add_import(importer="t.c.q", imported="t.c.p")  # a cycle of modules
    assert cycles(graph) == [["t.a", "t.b"], ["t.c.p", "t.c.q"]]


# --- what import-linter cannot see ------------------------------------------------------------

PURE = ("placement", "scaling", "capacity", "queue", "fleet")
CLOCK_READS = {"now", "today", "utcnow", "fromtimestamp", "utcfromtimestamp"}
# datetime stays allowed as a value type (cron schedules are calendar arithmetic); reading the
# clock through it is what a policy must not do
FILE_OPENS = {"open", "read_text", "read_bytes", "write_text", "write_bytes"}
DYNAMIC_IMPORTS = {"__import__", "import_module", "spec_from_file_location", "exec_module"}
LAZY_LOADER = "cli/lazy.py"  # imports a command's module when it runs: tidewise.cli's own


def names_used(path: Path) -> Iterable[tuple[str, int]]:
    """Every attribute that ``path`` reads, plain name it calls and name it imports from a
    module, with its line."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            yield node.attr, node.lineno
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            yield node.func.id, node.lineno
        elif isinstance(node, ast.ImportFrom):
            yield from ((alias.name, node.lineno) for alias in node.names)


def uses(root: Path, packages: Iterable[str], names: set[str]) -> list[str]:
    """Where the modules of ``packages`` under ``root`` use one of ``names``."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found += [
                f"{path.relative_to(root).as_posix()}:{line} {name}"
                for name, line in sorted(names_used(path), key=lambda used: used[1])
                if name in names
            ]
    return found


def dynamic_imports(root: Path) -> list[str]:
    """Dynamic imports outside the CLI's lazy loader: an import the contracts cannot see."""
    packages = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "__pycache__")
    found = uses(root, packages, DYNAMIC_IMPORTS)
    return [f for f in found if not f.startswith(LAZY_LOADER + ":")]


def test_policies_never_ask_datetime_for_the_time():
    assert uses(PACKAGE, PURE, CLOCK_READS) == []


def test_policies_open_no_file():
    assert uses(PACKAGE, PURE, FILE_OPENS) == []


def test_only_the_lazy_cli_imports_dynamically():
    assert dynamic_imports(PACKAGE) == []


def test_the_lazy_cli_loads_only_the_cli_s_own_modules():
    from tidewise.cli import COMMANDS

    def modules(table: Mapping) -> set[str]:
        return {lazy.module for lazy in table.values()}

    assert modules(COMMANDS)
    assert {m for m in modules(COMMANDS) if not m.startswith("tidewise.cli.")} == set()


def test_the_checks_see_a_clock_read_a_file_opened_and_a_dynamic_import(tmp_path):
    for folder in ("scaling", "cli", "kube"):
        (tmp_path / folder).mkdir()
    (tmp_path / "scaling/clock.py").write_text(
        "import datetime\n\ndef now():\n    return datetime.datetime.now()\n"
    )
    (tmp_path / "scaling/load.py").write_text(
        "def load(path):\n    with open(path) as f:\n        return f.read() + path.read_text()\n"
    )
    (tmp_path / "kube/plugins.py").write_text(
        "import importlib\n\nx = importlib.import_module('tidewise.sim')\ny = __import__('os')\n"
    )
    (tmp_path / "cli/lazy.py").write_text("import importlib\nimportlib.import_module('x')\n")
    assert uses(tmp_path, ["scaling"], CLOCK_READS) == ["scaling/clock.py:4 now"]
    assert uses(tmp_path, ["scaling"], FILE_OPENS) == [
        "scaling/load.py:2 open",
        "scaling/load.py:3 read_text",
    ]
    assert dynamic_imports(tmp_path) == [
        "kube/plugins.py:3 import_module",
        "kube/plugins.py:4 __import__",
    ]
