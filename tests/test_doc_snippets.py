"""The README's and docs' Python snippets parse, and every `acs.NAME...` they mention resolves (a user pastes them)."""

import re
from pathlib import Path

import pytest

import accelscope as acs

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), flags=re.S | re.M)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_blocks_compile(path):
    for block in _python_blocks(path):
        compile(block, str(path), "exec")  # a SyntaxError names the file


def test_readme_has_python_blocks():
    assert _python_blocks(ROOT / "README.md")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_acs_names_resolve(path):
    for dotted in sorted(set(re.findall(r"\bacs((?:\.[A-Za-z_]\w*)+)", path.read_text()))):
        obj = acs
        for part in dotted.strip(".").split("."):
            obj = getattr(obj, part)  # AttributeError names the missing part
