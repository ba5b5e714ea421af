"""The import rules of `.importlinter` hold on the tree, and a wrong import breaks them (so CI would fail)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LINT, "--config", str(tree / ".importlinter"), "--no-cache"], cwd=tree, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "apps", tree / "apps", ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    shutil.copy(ROOT / ".importlinter", tree / ".importlinter")
    return tree


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_up_the_layers_breaks_the_layers_contract(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    with (tree / "apps" / "llm" / "selectors.py").open("a") as module:
        module.write("\nfrom apps.billing.models import CreditReservation  # noqa: E402,F401 - the wrong way up\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "Apps import only downwards" in result.stdout and "BROKEN" in result.stdout
    assert "apps.llm.selectors -> apps.billing.models" in result.stdout


def test_a_circle_inside_an_app_breaks_the_cycles_contract(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    with (tree / "apps" / "chat" / "selectors.py").open("a") as module:
        module.write("\nfrom . import services  # noqa: E402,F401 - services already import selectors\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "No cycles are allowed in apps.chat" in result.stdout
