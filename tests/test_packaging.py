"""The wheel carries the whole package: pyproject's hand-written package list and package-data
globs cover every package folder and every YAML file the code reads (CI installs the wheel
and runs it outside the checkout: .ci/wheel-check)."""

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def folders() -> dict[str, Path]:
    """Every installed package name → its folder in the repository."""
    out = {}
    for package, folder in SETUPTOOLS["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            out[".".join([package, *parts])] = init.parent
    return out


def test_every_package_folder_is_listed_and_every_listed_package_exists():
    found = folders()
    assert sorted(found) == sorted(SETUPTOOLS["packages"])


def test_every_yaml_file_is_package_data():
    found = folders()
    globs = SETUPTOOLS["package-data"]
    yaml_files = [p for folder in SETUPTOOLS["package-dir"].values()
                  for p in (ROOT / folder).rglob("*.yaml") if "cards" not in p.parts]
    assert len(yaml_files) >= 7
    for path in yaml_files:
        package = next(name for name, folder in found.items() if folder == path.parent)
        assert any(fnmatch.fnmatch(path.name, g) for g in globs.get(package, [])), path
