"""The providers ``--provider`` names: one row each, the one place to add a provider.

A row gives the name, how ``--provider``'s help describes it, the environment variables
holding its secrets (never printed, whatever the provider of the command) and how to build
its transport. A new provider also gets a line in the ``environment`` part of
``soravideo.cli.parser.EPILOG``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import attrs

from ..transports.base import Transport

__all__ = [
    "KEY_VARIABLES",
    "PROVIDERS",
    "SIMULATED",
    "TABLE",
    "URL_VARIABLES",
    "WEBHOOK_URL_PROVIDERS",
    "Provider",
    "build_transport",
    "key_variables",
    "provider_help",
    "provider_label",
    "safe_transport",
]


def _sora(base_url: str | None, allow_unknown_models: bool, webhook_url: str | None) -> Transport:
    from ..transports.sora import SoraTransport

    return SoraTransport(base_url=base_url, allow_unknown_models=allow_unknown_models)


def _runway(base_url: str | None, allow_unknown_models: bool, webhook_url: str | None) -> Transport:
    from ..transports.runway import RunwayTransport

    return RunwayTransport(base_url=base_url, allow_unknown_models=allow_unknown_models)


def _fal(base_url: str | None, allow_unknown_models: bool, webhook_url: str | None) -> Transport:
    from ..transports.fal import FalTransport

    # Its endpoints are open-ended: unknown ones pass through whatever the flag says.
    return FalTransport(base_url=base_url, webhook_url=webhook_url)


def _openrouter(
    base_url: str | None, allow_unknown_models: bool, webhook_url: str | None
) -> Transport:
    from ..transports.openrouter import OpenRouterTransport

    return OpenRouterTransport(
        base_url=base_url, allow_unknown_models=allow_unknown_models, webhook_url=webhook_url
    )


def _replicate(
    base_url: str | None, allow_unknown_models: bool, webhook_url: str | None
) -> Transport:
    from ..transports.replicate import ReplicateTransport

    # Its endpoints are open-ended: unknown ones pass through whatever the flag says.
    return ReplicateTransport(base_url=base_url, webhook_url=webhook_url)


def _gemini(base_url: str | None, allow_unknown_models: bool, webhook_url: str | None) -> Transport:
    from ..transports.gemini import GeminiTransport

    return GeminiTransport(base_url=base_url, allow_unknown_models=allow_unknown_models)


@attrs.frozen
class Provider:
    """One ``--provider`` choice.

    Attributes:
        name: What ``--provider`` takes.
        help: How ``--provider``'s help names it.
        key_variables: Environment variables that hold its API keys.
        url_variables: Environment variables that hold its API root (may carry a password).
        transport: Builds its transport from ``--base-url``, ``--allow-unknown-model`` and
            ``--webhook-url`` (lazily imported); ``None`` for the simulated provider, which
            brings its own.
        webhook_url: Whether each create can name where to push the job's end
            (``--webhook-url``); the others push to an endpoint set at the provider, or not
            at all.
    """

    name: str
    help: str
    key_variables: tuple[str, ...] = ()
    url_variables: tuple[str, ...] = ()
    transport: Callable[[str | None, bool, str | None], Transport] | None = None
    webhook_url: bool = False


TABLE: tuple[Provider, ...] = (
    Provider(
        "sora",
        "sora (any /v1/videos gateway; default)",
        ("SORAVIDEO_API_KEY", "OPENAI_API_KEY"),
        ("SORAVIDEO_BASE_URL", "OPENAI_BASE_URL"),
        _sora,
    ),
    Provider("runway", "runway", ("RUNWAYML_API_SECRET",), ("RUNWAYML_BASE_URL",), _runway),
    Provider(
        "fal",
        "fal (its queue; pick the endpoint with --model)",
        ("FAL_KEY", "FAL_KEY_SECRET"),
        (),
        _fal,
        webhook_url=True,
    ),
    Provider(
        "openrouter", "openrouter", ("OPENROUTER_API_KEY",), (), _openrouter, webhook_url=True
    ),
    Provider(
        "gemini",
        "gemini (Google's Gemini API: Omni and Veo)",
        ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        (),
        _gemini,
    ),
    Provider(
        "replicate",
        "replicate (--model owner/name)",
        ("REPLICATE_API_TOKEN",),
        ("REPLICATE_BASE_URL",),
        _replicate,
        webhook_url=True,
    ),
    Provider("simulated", "simulated (offline FakeSora)"),
)

PROVIDERS = tuple(provider.name for provider in TABLE)
SIMULATED = tuple(provider.name for provider in TABLE if provider.transport is not None)
"""The providers ``--simulate`` takes: each has a fake in ``soravideo.testing``."""
WEBHOOK_URL_PROVIDERS = tuple(provider.name for provider in TABLE if provider.webhook_url)
"""The providers ``--webhook-url`` applies to: each create names where to push its end."""
KEY_VARIABLES = tuple(name for provider in TABLE for name in provider.key_variables)
URL_VARIABLES = tuple(name for provider in TABLE for name in provider.url_variables)
_BY_NAME = {provider.name: provider for provider in TABLE}


def provider_help() -> str:
    """Return ``--provider``'s help: every provider, as the table describes it."""
    names = [provider.help for provider in TABLE]
    return f"the provider: {', '.join(names[:-1])}, or {names[-1]}"


def key_variables(provider: str) -> tuple[str, ...]:
    """Return the environment variables ``provider``'s key is read from (none: unknown)."""
    row = _BY_NAME.get(provider)
    return row.key_variables if row is not None else ()


def build_transport(args: argparse.Namespace) -> Transport:
    """Return the transport of ``--provider`` (not ``simulated``: it brings its own)."""
    make = _BY_NAME[args.provider].transport
    assert make is not None, "the simulated provider brings its own transport"
    return make(
        args.base_url,
        bool(getattr(args, "allow_unknown_model", False)),
        getattr(args, "webhook_url", None),
    )


def safe_transport(args: argparse.Namespace) -> Transport | None:
    """Return the command's transport, or ``None`` for the simulated provider or on error.

    Only to name the provider's URL in a message; the constructors do no I/O.
    """
    try:
        return build_transport(args) if args.provider != "simulated" else None
    except Exception:
        return None


def provider_label(args: argparse.Namespace, transport: Transport | None) -> str:
    """Return ``sora at https://…`` (the provider and its API root), or just its name."""
    url = getattr(transport, "base_url", None) if transport is not None else None
    return f"{args.provider} at {url}" if url else str(args.provider)
