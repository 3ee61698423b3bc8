"""Test helpers for soravideo and for code built on it: fakes, clocks and contract suites.

The contract suites import pytest, so they load on first use (``from soravideo.testing
import TransportContract``); the fakes and clocks need nothing beyond soravideo's own
dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._core.clock import ManualClock, VirtualClock
from .._core.lazy import lazy_attribute as _lazy_attribute
from ._fake_fal import FakeFal
from ._fake_gemini import FakeGemini
from ._fake_openrouter import FakeOpenRouter
from ._fake_replicate import FakeReplicate
from ._fake_runway import FakeRunway
from ._fake_sora import FakeSora
from ._fakeserver import FakeProvider, FakeRequest, FakeResponse, Fault, RecordedRequest
from ._foreign import ForeignServer
from ._hostile import HOSTILE_IDS, HOSTILE_KINDS, HostileKind, StreamCounters
from ._invariants import check_exactly_once, check_ledger_exactly_once

if TYPE_CHECKING:
    from ._postgres_server import TemporaryPostgres
    from .repository_contract import RepositoryContract
    from .transport_contract import TransportContract

__all__ = [
    "HOSTILE_IDS",
    "HOSTILE_KINDS",
    "FakeFal",
    "FakeGemini",
    "FakeOpenRouter",
    "FakeProvider",
    "FakeReplicate",
    "FakeRequest",
    "FakeResponse",
    "FakeRunway",
    "FakeSora",
    "Fault",
    "ForeignServer",
    "HostileKind",
    "ManualClock",
    "RecordedRequest",
    "RepositoryContract",
    "StreamCounters",
    "TemporaryPostgres",
    "TransportContract",
    "VirtualClock",
    "check_exactly_once",
    "check_ledger_exactly_once",
]

# Names that import pytest, loaded only when asked for: name -> module.
_LAZY = {
    "RepositoryContract": ".repository_contract",
    "TemporaryPostgres": "._postgres_server",
    "TransportContract": ".transport_contract",
}


def __getattr__(name: str) -> Any:
    return _lazy_attribute(globals(), _LAZY, name)
