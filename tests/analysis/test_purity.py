"""The analysis library stays pure: no web framework, no database, no app modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import survey_app.analysis

PACKAGE_DIR = Path(survey_app.analysis.__file__).parent
FORBIDDEN_ROOTS = {"flask", "sqlalchemy", "werkzeug", "flask_sqlalchemy", "flask_migrate", "flask_wtf"}
SOURCES = sorted(PACKAGE_DIR.rglob("*.py"))


def imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def is_forbidden(module: str) -> bool:
    root = module.split(".")[0]
    if root in FORBIDDEN_ROOTS or root.startswith("flask_"):
        return True
    return module.startswith("survey_app") and not (
        module == "survey_app.analysis" or module.startswith("survey_app.analysis.")
    )


def test_there_are_sources_to_check() -> None:
    assert len(SOURCES) >= 5


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_forbidden_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = [module for module in imported_modules(tree) if is_forbidden(module)]
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [("flask", True), ("flask_login", True), ("sqlalchemy.orm", True), ("werkzeug.utils", True),
     ("survey_app.models", True), ("survey_app", True), ("survey_app.analysis.text", False), ("numpy", False)],
)
def test_the_checker_itself(module: str, forbidden: bool) -> None:
    assert is_forbidden(module) is forbidden


def test_using_the_library_loads_no_database_layer() -> None:
    # The package's __init__ runs first: an import it gains (the models, SQLAlchemy) would make
    # every library user pay for it at start-up, which the file check above cannot see.
    code = (
        "import sys\n"
        "from survey_app.analysis import analyze_comment\n"
        "analyze_comment('De vestiging was dicht', score=3)\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in {'sqlalchemy', 'flask_sqlalchemy'}"
        " or name == 'survey_app.models'))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=PACKAGE_DIR.parent.parent)
    assert loaded.stdout.strip() == "[]"
