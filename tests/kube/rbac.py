"""What the RBAC tests of deploy/ share: the API calls a component's source makes, and the
rules a set of manifests grants (tests/kube/test_operator_manifests.py,
tests/kube/test_extender_manifests.py)."""

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

METHODS = ("get", "list", "watch", "create", "delete", "patch", "replace")


def client_calls(paths: Iterable[Path]) -> Iterator[tuple[Path, str, str]]:
    """Every ``<...client>.<method>(first, ...)`` call in ``paths``: the file, the method and
    what the first argument names (a resource class, a variable, or the function that builds
    the object)."""
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = ast.unparse(node.func.value)
            if not owner.endswith("client") or node.func.attr not in METHODS or not node.args:
                continue
            first = node.args[0]
            yield (
                path,
                node.func.attr,
                ast.unparse(first.func if isinstance(first, ast.Call) else first),
            )


def granted(documents: Iterable[dict], kind: str) -> set[tuple[str, str]]:
    """(resource, verb) of every rule of the ``kind`` objects (ClusterRole, Role)."""
    return {
        (resource, verb)
        for doc in documents
        if doc["kind"] == kind
        for rule in doc["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
