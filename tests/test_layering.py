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
    "report": {"model"},
    "kube": {"model", "catalog", "placement", "scaling", "capacity", "queue", "fleet", "report"},
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
