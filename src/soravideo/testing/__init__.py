"""Test helpers for soravideo and for code built on it: fakes, clocks and contract suites."""

from __future__ import annotations

from .._clock import ManualClock, VirtualClock

__all__ = ["ManualClock", "VirtualClock"]
