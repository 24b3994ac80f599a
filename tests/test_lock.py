"""requirements.lock and pyproject.toml agree, and this environment was installed from the lock."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("lock_script", ROOT / "scripts" / "lock.py")
lock_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock_script)


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line).groups()
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_lock_digest_matches_pyproject():
    """A changed requirement in pyproject.toml without `make lock` fails here."""
    header = [line for line in (ROOT / "requirements.lock").read_text().splitlines()
              if line.startswith(lock_script.DIGEST_PREFIX)]
    assert header == [lock_script.DIGEST_PREFIX + lock_script.dependency_digest()], \
        "pyproject.toml's dependencies changed: run `make lock` and commit requirements.lock"


def test_every_declared_requirement_is_pinned_within_its_range():
    pins = _pins()
    for text in lock_script.declared_requirements():
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared in pyproject.toml but not in requirements.lock"
        # torch's pin carries a local label (2.13.0+cpu); the range is about the public version
        assert req.specifier.contains(Version(pins[name].public), prereleases=True), \
            f"requirements.lock pins {req.name}=={pins[name]}, outside pyproject.toml's {req.specifier}"


def test_digest_changes_when_a_requirement_changes(tmp_path):
    text = (ROOT / "pyproject.toml").read_text()
    changed = tmp_path / "pyproject.toml"
    changed.write_text(text.replace('"numpy>=1.26"', '"numpy>=1.27"'))
    assert lock_script.dependency_digest(changed) != lock_script.dependency_digest()


def test_environment_has_the_locked_versions():
    """`make test` installs from the lock: what runs the tests is what the lock says."""
    for name, version in _pins().items():
        if name in {"pip", "setuptools", "wheel"}:
            continue  # the installer's own tools; a developer may have upgraded them in place
        assert Version(importlib.metadata.version(name)) == version, f"{name}: installed != locked {version}"
