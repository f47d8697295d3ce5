"""The import table of docs/DESIGN.md holds: every import of every module under ``roadmap/`` and
``blocks/`` is one its folder's row allows.

The table is read from DESIGN.md itself, so the document and the code cannot drift apart. Each
import statement counts, wherever it stands (a lazy import inside a function, one for type
checking): a lazy import is a dependency all the same. ``from a.b import c`` is the name
``a.b.c``; a row's entry allows that name and everything under it. A module may always import its
own folder, the standard library and third-party packages (torch only where the row says so).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "DESIGN.md"
HEADER = "| folder / module | may import (of the project) | torch |"
PROJECT = ("roadmap", "blocks")


def layer_table() -> dict[str, tuple[tuple[str, ...], bool]]:
    """``{row path: (allowed names, torch allowed)}`` of DESIGN.md's import table."""
    lines = DESIGN.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER) + 2  # past the header and its rule
    rows = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        path, allowed, torch = (cell.strip() for cell in line.strip().strip("|").split("|"))
        rows[path.strip("`")] = (tuple(re.findall(r"`([\w.]+)`", allowed)), torch.startswith("yes"))
    return rows


def modules() -> list[Path]:
    return sorted(p for folder in (*PROJECT, "search_spaces") for p in (ROOT / folder).rglob("*.py"))


def row_of(path: Path, table: dict) -> str | None:
    """The most specific row covering ``path`` (a module's own row, else its folder's)."""
    rel = path.relative_to(ROOT).as_posix()
    covering = [row for row in table if rel == row or (row.endswith("/") and rel.startswith(row))]
    return max(covering, key=len, default=None)


def dotted(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every import in the module, relative ones resolved."""
    package = dotted(path) if path.name == "__init__.py" else dotted(path).rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return names


def covered(name: str, entries: tuple[str, ...]) -> bool:
    return any(name == e or name.startswith(e + ".") for e in entries)


def test_the_table_has_a_row_for_every_module():
    table = layer_table()
    assert "roadmap/search/" in table and "roadmap/adapters/" in table
    missing = [p.relative_to(ROOT).as_posix() for p in modules() if row_of(p, table) is None]
    assert not missing, f"modules with no row in DESIGN.md's import table: {missing}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_import_is_one_the_table_allows(path):
    table = layer_table()
    row = row_of(path, table)
    allowed, torch = table[row]
    own = dotted(ROOT / row.rstrip("/")) if row.endswith("/") else None
    wrong = []
    for line, name in imported_names(path):
        if name.split(".")[0] in PROJECT:
            ok = covered(name, allowed) or (own is not None and covered(name, (own,)))
        else:
            ok = torch or name.split(".")[0] != "torch"
        if not ok:
            wrong.append(f"line {line}: {name}")
    assert not wrong, f"{path.relative_to(ROOT)} (row {row}) imports what DESIGN.md does not allow: {wrong}"


def test_the_search_core_knows_the_evaluator_by_its_protocol_alone():
    """The case the table was written for: no module of roadmap/search measures or trains."""
    allowed, torch = layer_table()["roadmap/search/"]
    assert not torch
    for forbidden in ("roadmap.build", "roadmap.analysis", "roadmap.adapters", "roadmap.evaluation.evaluate"):
        assert not covered(forbidden, allowed), forbidden
    assert not covered("roadmap.evaluation.load_data", allowed)
