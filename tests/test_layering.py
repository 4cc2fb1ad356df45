"""The arrows of DESIGN.md §2 point one way: policies never import the twin or adapters."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tidewise"
ALLOWED = {
    "model": set(),
    "catalog": {"model"},
    "placement": {"model"},
    "scaling": {"model"},
    "capacity": {"model", "catalog", "placement"},
    "queue": {"model", "placement"},
    "fleet": {"model"},
    "report": {"model", "files"},
    "kube": {"model", "catalog", "placement", "scaling", "capacity", "queue", "fleet", "files"},
    "gateways": {"model", "fleet", "files"},
    "testenv": {"kube"},  # kwok's node annotation (tidewise.kube.api.kwok), nothing else
}
PURE = {"placement", "scaling", "capacity", "queue", "fleet"}
IMPURE_MODULES = {"time", "random", "os", "socket", "subprocess", "pathlib", "io"}
CLOCK_READS = {"now", "today", "utcnow", "fromtimestamp", "utcfromtimestamp"}
# datetime stays allowed as a value type (cron schedules are calendar arithmetic); reading the
# clock through it is what a policy must not do


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(p for p in ALLOWED if (PACKAGE / p).is_dir()))
def test_package_imports_only_what_the_design_allows(package):
    for path in modules(package):
        for name in imports_of(path):
            if not name.startswith("tidewise."):
                continue
            target = name.split(".")[1]
            assert target == package or target in ALLOWED[package], (
                f"{path.relative_to(PACKAGE)} imports {name}"
            )


@pytest.mark.parametrize("package", sorted(p for p in PURE if (PACKAGE / p).is_dir()))
def test_policies_do_no_io_and_read_no_clock(package):
    for path in modules(package):
        bad = {n.split(".")[0] for n in imports_of(path)} & IMPURE_MODULES
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


@pytest.mark.parametrize("package", sorted(p for p in PURE if (PACKAGE / p).is_dir()))
def test_policies_never_ask_datetime_for_the_time(package):
    for path in modules(package):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                assert node.attr not in CLOCK_READS, (
                    f"{path.relative_to(PACKAGE)}:{node.lineno} reads the clock ({node.attr})"
                )


# --- tidewise.kube: its components depend on the runtime layer, never on each other ---------
# (docs/architecture.md, "tidewise.kube"). Imports are resolved to full module names, relative
# ones and ``from tidewise.kube import controllers`` included.

RUNTIME = "api"  # tidewise.kube.api: what every component shares


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolved_imports(path: Path, root: Path = PACKAGE) -> list[tuple[str, ast.AST]]:
    """Every module ``path`` imports, by full name, with the node that imports it; a
    ``from X import y`` counts as importing ``X`` and ``X.y`` (``y`` may be a submodule)."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.append((module, node))
            found += [(f"{module}.{alias.name}", node) for alias in node.names]
    return found


def kube_arrow_violations(root: Path = PACKAGE) -> list[str]:
    """Imports between ``tidewise.kube``'s components: each subpackage but the runtime layer
    may import, of ``tidewise.kube``, only itself and ``tidewise.kube.api``; the runtime layer
    none of the others; modules directly in ``tidewise.kube`` (the operator, which composes the
    components) anything in it."""
    kube = root / "kube"
    bad = []
    for path in sorted(kube.rglob("*.py")):
        inside = path.relative_to(kube).parts
        if len(inside) == 1:
            continue  # tidewise/kube/__init__.py and the operator: the composition root
        own = inside[0]
        allowed = {own} if own == RUNTIME else {own, RUNTIME}
        for name, node in resolved_imports(path, root):
            parts = name.split(".")
            if parts[:2] != [root.name, "kube"] or len(parts) < 3:
                continue
            if parts[2] not in allowed:
                bad.append(f"{path.relative_to(root.parent)}:{node.lineno} imports {name}")
    return bad


def test_kube_components_share_the_runtime_layer_and_not_each_other():
    assert kube_arrow_violations() == []


def test_the_kube_check_sees_an_arrow_between_components(tmp_path):
    """The check above can fail: a provider module importing the extender, the extender
    importing the controllers relatively, the runtime layer importing the provider, each is
    named; an import of the runtime layer is not."""
    root = tmp_path / "tidewise"
    for folder in ("api", "provider", "extender", "controllers"):
        (root / "kube" / folder).mkdir(parents=True)
        (root / "kube" / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "kube" / "__init__.py").write_text("")
    (root / "kube" / "operator.py").write_text("from tidewise.kube import controllers, provider\n")
    (root / "kube/provider/observe.py").write_text(
        "from tidewise.kube.api.resources import pod_shape\nfrom tidewise.kube import extender\n"
    )
    (root / "kube/extender/watch.py").write_text("from ..controllers import status\n")
    (root / "kube/api/events.py").write_text("import tidewise.kube.provider.loop\n")
    assert kube_arrow_violations(root) == [
        "tidewise/kube/api/events.py:1 imports tidewise.kube.provider.loop",
        "tidewise/kube/extender/watch.py:1 imports tidewise.kube.controllers",
        "tidewise/kube/extender/watch.py:1 imports tidewise.kube.controllers.status",
        "tidewise/kube/provider/observe.py:2 imports tidewise.kube.extender",
    ]


# --- the test control plane is a development tool: only its CLI command and tests use it ----


def importers_of_testenv(root: Path = PACKAGE) -> list[str]:
    """Modules of the package, outside ``tidewise.testenv``, that import it; within the CLI
    (``tidewise/cli.py`` or ``tidewise/cli/``), an import inside a function named for
    ``testenv``, or in a module named for it, is the testenv command's and allowed."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        inside = path.relative_to(root).parts
        if inside[0] == "testenv":
            continue
        in_cli = inside[0] in ("cli.py", "cli")
        allowed_lines: set[int] = set()
        if in_cli:
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                named = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                if named and "testenv" in node.name:
                    allowed_lines |= {n.lineno for n in ast.walk(node) if hasattr(n, "lineno")}
        for name, node in resolved_imports(path, root):
            if name.split(".")[:2] != [root.name, "testenv"]:
                continue
            if in_cli and ("testenv" in path.stem or node.lineno in allowed_lines):
                continue
            bad.append(f"{path.relative_to(root.parent)}:{node.lineno} imports {name}")
    return sorted(set(bad))


def test_only_the_testenv_command_imports_the_test_control_plane():
    assert importers_of_testenv() == []


def test_the_testenv_check_sees_another_importer(tmp_path):
    root = tmp_path / "tidewise"
    (root / "testenv").mkdir(parents=True)
    (root / "kube").mkdir()
    (root / "cli").mkdir()
    (root / "testenv/cluster.py").write_text("from tidewise.testenv.build import Binaries\n")
    (root / "kube/kwok.py").write_text("from tidewise.testenv import FAKE\n")
    (root / "cli/testenv.py").write_text("from tidewise.testenv import up\n")
    (root / "cli/sim.py").write_text(
        "def testenv_up():\n    from tidewise.testenv import up\n\n"
        "def sim():\n    import tidewise.testenv\n"
    )
    assert importers_of_testenv(root) == [
        "tidewise/cli/sim.py:5 imports tidewise.testenv",
        "tidewise/kube/kwok.py:1 imports tidewise.testenv",
        "tidewise/kube/kwok.py:1 imports tidewise.testenv.FAKE",
    ]
