"""The suite's own layout: test modules share helpers through tests/support, nothing else.

A helper imported from a test module drags its tests and fixtures into the importer;
one imported from a conftest.py gets whichever conftest pytest loaded under that name.
"""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SHARED = ("tests.support",)


def imported(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "tests":
                names += [f"tests.{alias.name}" for alias in node.names]
            else:
                names.append(node.module)
    return names


def test_test_modules_import_only_the_shared_helpers_of_the_suite() -> None:
    wrong = [
        f"{path.relative_to(TESTS)}: {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for name in imported(path)
        if name.split(".")[0] == "tests"
        and not any(name == s or name.startswith(f"{s}.") for s in SHARED)
    ]
    assert wrong == []
