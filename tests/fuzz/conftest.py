"""Hypothesis profiles for the fuzz tests: `default` (in `make test`, about 2,000 examples within a minute over
the module) and `fuzz` (`HYPOTHESIS_PROFILE=fuzz`, `make fuzz`: ten times as many, 20,000).

A test sizes itself with `examples(n)`: n under `default`, 10·n under `fuzz`. No deadline: one example drives
a real core (SQLite writes, sometimes a tip), whose time varies with the machine, and a slow example is not a
bug. No example database: the suite leaves no `.hypothesis` folder behind; a failure prints its reproduction.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = {"default": 1, "fuzz": 10}

settings.register_profile("default", deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                 HealthCheck.data_too_large])
settings.register_profile("fuzz", parent=settings.get_profile("default"))
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
if PROFILE not in SCALE:
    raise ValueError(f"HYPOTHESIS_PROFILE must be one of {sorted(SCALE)}, not {PROFILE!r}")
settings.load_profile(PROFILE)


def examples(n: int) -> int:
    """How many examples a test of `n` under the default profile runs under the current one."""
    return n * SCALE[PROFILE]
