"""PLACEHOLDER for the runs branch (i13-runs): the actions engineer writes this module (the one
door for every session action). Only what dashboard.recovery calls is here, doing nothing, so
the scheduler runs; the lead takes the actions branch's version at merge."""

from __future__ import annotations


def settle_open_attempts() -> int:
    """PLACEHOLDER: settles ActionAttempts left open past the deadline; returns how many."""
    return 0
