"""
txnsq tests.

Importing this package loads a deterministic Hypothesis profile, so property
tests explore the same examples on every run (Twisted's own trial tests do
the same, see C{twisted.trial.test}).
"""

from hypothesis import HealthCheck, settings


def _activateHypothesisProfile() -> None:
    """
    Register and load the C{txnsq-deterministic} profile.
    """
    deterministic = settings(
        # Wall-clock deadlines fail at random on a loaded machine; speed
        # belongs in bench/, not in tests.
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        # The same examples on every run: a failure should come from the
        # change under test, not from a new random draw.
        derandomize=True,
        max_examples=200,
        # With derandomize the example database adds nothing.
        database=None,
    )
    settings.register_profile("txnsq-deterministic", deterministic)
    settings.load_profile("txnsq-deterministic")


_activateHypothesisProfile()
