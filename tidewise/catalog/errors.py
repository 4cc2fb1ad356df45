"""The one error the catalog raises for bad input files."""

from __future__ import annotations

from pathlib import Path


class CatalogError(ValueError):
    """A catalog or spot-advisor file that cannot be read as documented.

    The message is one line that points at the exact place to fix, because catalogs are large
    fetched CSVs and "could not parse" alone sends people grepping. In a CSV the place is a row
    (counted as lines of the file, the header being row 1) and a column; in a JSON file it is a
    key path (``row`` is ``None``).
    """

    def __init__(self, path: Path | str, row: int | None, field: str, reason: str) -> None:
        where = f"key {field!r}" if row is None else f"row {row}, column {field!r}"
        super().__init__(f"{path}: {where}: {reason}")
        self.path = Path(path)
        self.row = row
        self.field = field
