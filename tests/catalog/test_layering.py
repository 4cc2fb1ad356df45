"""tidewise.catalog may import only tidewise.model (DESIGN.md section 2)."""

import ast
from pathlib import Path

import tidewise.catalog

ALLOWED = ("tidewise.model", "tidewise.catalog")


def test_catalog_imports_only_model():
    package = Path(tidewise.catalog.__file__).parent
    for source in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("tidewise"):
                    assert name.startswith(ALLOWED), f"{source.name} imports {name}"
