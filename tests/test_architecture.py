"""The layers hold: imports run knowledge -> tools -> agent -> ui, with no cycles, and a
function-level import of the project's own modules is only there for a heavy dependency."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("knowledge", "tools", "prompts", "agent", "ui")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy_tree(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_import_contract_holds_on_the_tree():
    res = _lint_imports(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_contract_fails_on_an_upward_import(tmp_path):
    """A knowledge module that imports the page breaks the layers contract, and a tools module
    importing another that imports it back breaks the no-cycles contract."""
    root = _copy_tree(tmp_path)
    with (root / "knowledge" / "hospital.py").open("a", encoding="utf-8") as f:
        f.write("\nimport ui.app  # noqa: E402,F401\n")
    res = _lint_imports(root)
    assert res.returncode != 0
    assert "knowledge is not allowed to import ui" in res.stdout


def _function_level_project_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n.split(".")[0] in PACKAGES for n in names):
                found.append((node.lineno, lines[node.lineno - 1].strip()))
    return found


def test_function_level_imports_of_the_project_name_their_heavy_dependency():
    """Imports inside functions hide cycles; the only ones left keep a command from loading
    torch, chromadb, langchain, pandas or gradio before it needs them, and say so."""
    bad = []
    for name in PACKAGES:
        for path in sorted((ROOT / name).rglob("*.py")):
            for lineno, line in _function_level_project_imports(path):
                if "# heavy:" not in line:
                    bad.append(f"{path.relative_to(ROOT)}:{lineno}: {line}")
    assert not bad, "function-level imports without a '# heavy: ...' reason:\n" + "\n".join(bad)


def test_the_solver_default_is_one_value():
    """Settings cannot import the allocation engine (pandas, PuLP) just for its default."""
    from agent.app.settings import Settings
    from tools.allocation.instance import DEFAULT_SOLVER

    assert Settings.model_fields["solver"].default == DEFAULT_SOLVER
