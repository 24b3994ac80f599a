"""Write requirements.lock: every package version a fresh `make test` / `make demo` installs.

Run by `make lock` inside a throw-away virtual environment that installed torch==2.13.0 (our CPU build) and
`.[test,torch]` unpinned, i.e. the newest versions pyproject.toml allows today. The header records a digest of
pyproject.toml's dependency lists, so tests/test_lock.py fails when one changes and the lock was not refreshed.

    python scripts/lock.py --python .lock-venv/bin/python      # write requirements.lock
    python scripts/lock.py --digest                            # print the digest of pyproject.toml's lists
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
# The extras `make test` and `make demo` install; the lock covers exactly these.
LOCKED_EXTRAS = ("test", "torch")
DIGEST_PREFIX = "# pyproject-dependencies-sha256: "


def declared_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The requirement strings of the project's dependencies plus the locked extras, in file order."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return list(project["dependencies"]) + [req for extra in LOCKED_EXTRAS for req in extras.get(extra, [])]


def dependency_digest(pyproject: Path = PYPROJECT) -> str:
    """sha256 of the declared requirement lists (not of the whole file: a version bump or a comment does not
    invalidate the lock, a changed requirement does)."""
    return hashlib.sha256(json.dumps(declared_requirements(pyproject)).encode()).hexdigest()


def frozen_lines(python: str) -> list[str]:
    """`pip freeze --all` of that interpreter's environment, minus the project itself."""
    out = subprocess.run([python, "-m", "pip", "freeze", "--all", "--exclude-editable"],
                         check=True, capture_output=True, text=True).stdout
    return sorted((line for line in out.splitlines()
                   if line and not line.lower().startswith(("accelscope", "-e "))), key=str.lower)


def write_lock(python: str) -> None:
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    header = [
        "# requirements.lock: the exact versions `make test` and `make demo` install (pip install -r).",
        "# Refresh with `make lock` after changing pyproject.toml's dependencies; tests/test_lock.py checks both",
        f"# agree. Resolved on Python {version}, Linux x86_64; torch is the local CPU build (2.13.0+cpu).",
        DIGEST_PREFIX + dependency_digest(),
    ]
    LOCK.write_text("\n".join(header + frozen_lines(python)) + "\n")
    print(f"wrote {LOCK.relative_to(ROOT)}: {len(frozen_lines(python))} packages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the environment to freeze")
    parser.add_argument("--digest", action="store_true", help="print pyproject.toml's dependency digest")
    args = parser.parse_args()
    if args.digest:
        print(dependency_digest())
    else:
        write_lock(args.python)


if __name__ == "__main__":
    main()
