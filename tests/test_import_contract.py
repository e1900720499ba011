"""The import contract in pyproject.toml ([tool.importlinter]) holds: the flow runs one way,
serving never imports training, features import neither, nothing imports the CLI root.

import-linter finds modules by walking the package's folder, and the editable install maps the
subpackages to folders beside ``mooc_risk/`` (pyproject's package-dir), so the check runs on a
copy laid out as the wheel installs it.
"""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def installed_layout(dest: Path) -> Path:
    """Copy each package folder to where the wheel puts it (``mooc_risk/features``, …)."""
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    skip = shutil.ignore_patterns("__pycache__", "cards", "*.pyc")
    for package, folder in sorted(package_dir.items()):
        shutil.copytree(ROOT / folder, dest.joinpath(*package.split(".")), ignore=skip,
                        dirs_exist_ok=True)
    return dest


def lint_imports(layout: Path) -> subprocess.CompletedProcess:
    command = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(layout)}
    return subprocess.run([str(command), "--config", str(ROOT / "pyproject.toml")], cwd=layout,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_import_contract_holds(tmp_path):
    result = lint_imports(installed_layout(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_serving_importing_training_breaks_the_contract(tmp_path):
    layout = installed_layout(tmp_path)
    (layout / "mooc_risk" / "serving" / "shortcut.py").write_text(
        "from mooc_risk.training.train import fit_and_assess\n")
    result = lint_imports(layout)
    assert result.returncode != 0
    assert "mooc_risk.serving.shortcut -> mooc_risk.training.train" in result.stdout
