#!/usr/bin/env bash
# Run HERE (the development machine), once per session that was lent a GPU, before scripts/gpu_measure.sh.
# The device machine's image (python3 3.12, PyTorch, typer, rich, PyYAML, numpy) lacks pydantic and its three
# companions, which accelscope needs; nothing can be fetched there, so they travel as wheels in .whl/ (ignored by
# git through .git/info/exclude), at the versions requirements.lock pins.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
pins=$(grep -i -E '^(pydantic|pydantic_core|annotated-types|typing-inspection)==' requirements.lock)
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl $pins
ls .whl
