"""Repo-wide pytest settings for tasks/ and tests/.

The plugin itself is loaded through its ``pytest11`` entry point (``pip install -e .``);
nothing here is needed to run tasks elsewhere.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Verifier modules call into sandboxes: a slow example is the program's, not Hypothesis's, concern.
# No example database: a verdict must not depend on what earlier runs happened to find, and
# evaluate() runs verifiers with the task folder as working directory.
settings.register_profile(
    "autolab",
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("autolab")
