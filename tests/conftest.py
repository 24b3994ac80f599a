"""Hypothesis profiles for generated-input tests.

`ci` (default): few examples per test, the same on every run, so `make test` stays fast and reproducible. `fuzz`
(`make fuzz`, HYPOTHESIS_PROFILE=fuzz): thousands of generated inputs per fuzz test. Fuzz tests carry `@pytest.mark.fuzz` and take their example
count from `fuzz_examples(ci=...)`, which the profile scales.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
# derandomized: `make test` draws the same examples on every run and machine, so a CI result is reproducible; `make
# fuzz` draws new ones each time (and a failure it finds is kept in .hypothesis/ for the next run)
settings.register_profile("ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", deadline=None, derandomize=False,
                          suppress_health_check=list(HealthCheck))
settings.load_profile("fuzz" if FUZZ else "ci")


def fuzz_examples(ci: int, fuzz: int = 3000) -> int:
    """Examples for one generated-input test: `ci` in the normal suite, `fuzz` under `make fuzz`."""
    return fuzz if FUZZ else ci
