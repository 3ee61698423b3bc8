"""Webhook deliveries: each provider's signature scheme, checked once, here ([W2-7]).

A transport that can be pushed to implements ``verify_webhook(headers, body, now=...)``
with the helpers below and returns a `WebhookDelivery`: who sent it, its delivery id (for
de-duplication), the remote video it is about and, when the body carries it, the state it
reports. Nothing here touches the ledger: ``soravideo.webhooks`` does that.

The schemes:

- **Standard Webhooks** (Replicate, Google's Gemini API, OpenAI's ``video.*`` events):
  ``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` (``v1,`` + base64
  HMAC-SHA256 of ``"{id}.{timestamp}.{body}"`` under the base64 secret after ``whsec_``).
  The ``standardwebhooks`` package signs; the timestamp is checked here against the
  client's clock (the package checks it against the wall clock, which simulated time is not).
- **fal**: ED25519 over ``"{request_id}\\n{user_id}\\n{timestamp}\\n{sha256 hex of the
  body}"`` (``X-Fal-Webhook-Request-Id``, ``-User-Id``, ``-Timestamp``, ``-Signature`` in
  hex), with the public keys fal publishes as a JWKS document; ``cryptography`` verifies.
- **OpenRouter**: ``X-OpenRouter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
  "{t},{body}" under the workspace secret>``; ``X-OpenRouter-Idempotency-Key`` names the
  delivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from .._core.errors import WebhookVerificationError
from .base import RemoteJob, remote_id_problem

__all__ = [
    "TOLERANCE",
    "WebhookDelivery",
    "check_timestamp",
    "ed25519_keys",
    "header",
    "json_body",
    "thin_delivery",
    "verify_fal",
    "verify_openrouter",
    "verify_standard",
]

TOLERANCE = 300.0
"""Seconds a delivery's timestamp may be behind (or ahead of) the client's clock."""

_EXTRA = "install the webhooks extra: pip install 'soravideo[webhooks]'"


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    """A verified delivery, in neutral terms.

    Args:
        provider: The transport's name.
        delivery_id: The provider's id of this delivery (duplicates share it).
        event: The provider's event name (``video.completed``, ``completed``, ``OK`` …).
        remote_ids: The remote id the delivery is about, and other spellings of it the
            ledger may hold (fal names its request only, not its endpoint); empty when the
            event is about nothing soravideo tracks (a batch, a test ping).
        remote: The state the body reports, when it carries one; ``None`` for a thin
            event (only an id): the job's status is then read once.
    """

    provider: str
    delivery_id: str
    event: str
    remote_ids: tuple[str, ...] = ()
    remote: RemoteJob | None = None


def thin_delivery(
    provider: str,
    delivery_id: str,
    event: Mapping[str, Any],
    kinds: Sequence[str],
    *,
    remote_id: Callable[[str], str | None] | None = None,
) -> WebhookDelivery:
    """Read a thin event (``{"type": …, "data": {"id": …}}``): an id, no state.

    Args:
        provider: The transport's name.
        delivery_id: The delivery's id.
        event: The verified body.
        kinds: The event types that are about a video; any other names none.
        remote_id: Maps ``data.id`` onto the remote id the ledger holds (``None``: not
            one of ours); default: as it is, if usable.

    Raises:
        WebhookVerificationError: ``reason="body"``: no ``type``.
    """
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        raise _refuse(provider, "body", "the delivery's body is not an event (no type)")
    data = event.get("data")
    found = data.get("id") if isinstance(data, Mapping) else None
    ids: tuple[str, ...] = ()
    if kind in kinds and isinstance(found, str):
        mapped = remote_id(found) if remote_id is not None else found
        if mapped is not None and remote_id_problem(mapped) is None:
            ids = (mapped,)
    return WebhookDelivery(provider=provider, delivery_id=delivery_id, event=kind, remote_ids=ids)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Return a header's value, whatever the case of its name (``None`` when absent)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _refuse(provider: str, reason: str, message: str) -> WebhookVerificationError:
    return WebhookVerificationError(f"{provider}: {message}", provider=provider, reason=reason)


def check_timestamp(provider: str, value: str | None, now: float) -> int:
    """Return a delivery's timestamp (Unix seconds) if it is within five minutes of ``now``.

    Raises:
        WebhookVerificationError: ``reason="headers"`` when missing or not a number,
            ``"timestamp"`` when too old or too new.
    """
    try:
        stamp = int(str(value).strip())
    except ValueError:
        raise _refuse(
            provider, "headers", "the delivery's timestamp is missing or not a number"
        ) from None
    if stamp < now - TOLERANCE:
        raise _refuse(provider, "timestamp", "the delivery's timestamp is more than 5 minutes old")
    if stamp > now + TOLERANCE:
        raise _refuse(
            provider, "timestamp", "the delivery's timestamp is more than 5 minutes ahead"
        )
    return stamp


def json_body(provider: str, body: bytes) -> Mapping[str, Any]:
    """Return a verified body parsed as a JSON object.

    Raises:
        WebhookVerificationError: ``reason="body"``: not a JSON object.
    """
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _refuse(provider, "body", "the delivery's body is not JSON") from None
    if not isinstance(parsed, Mapping):
        raise _refuse(provider, "body", "the delivery's body is not a JSON object")
    return parsed


def _need_secret(provider: str, secret: str | None) -> str:
    if not secret:
        raise _refuse(
            provider,
            "not_configured",
            "no webhook secret is configured (the transport's webhook_secret=): "
            "deliveries cannot be verified, so none is accepted",
        )
    return secret


def verify_standard(
    provider: str, secret: str | None, headers: Mapping[str, str], body: bytes, *, now: float
) -> tuple[str, Mapping[str, Any]]:
    """Verify a Standard Webhooks delivery.

    Args:
        provider: The transport's name (for messages).
        secret: The signing secret (``whsec_…``).
        headers: The request's headers.
        body: The raw body, exactly as received.
        now: The client's time (Unix seconds).

    Returns:
        ``(webhook-id, body as JSON)``.

    Raises:
        WebhookVerificationError: Missing headers, a stale timestamp, no matching signature,
            a body that is not a JSON object, or no secret configured.
        ImportError: The ``standardwebhooks`` package is not installed.
    """
    try:
        from standardwebhooks.webhooks import Webhook
    except ImportError as exc:  # pragma: no cover - the extra is a dev dependency
        raise ImportError(
            f"verifying {provider} webhooks needs standardwebhooks: {_EXTRA}"
        ) from exc
    key = _need_secret(provider, secret)
    msg_id = header(headers, "webhook-id")
    stamp_text = header(headers, "webhook-timestamp")
    signatures = header(headers, "webhook-signature")
    if not (msg_id and stamp_text and signatures):
        raise _refuse(
            provider,
            "headers",
            "webhook-id, webhook-timestamp and webhook-signature are required",
        )
    stamp = check_timestamp(provider, stamp_text, now)
    try:
        signer = Webhook(key)
    except Exception as exc:  # a secret that is not base64, or empty
        raise _refuse(
            provider, "not_configured", f"the webhook secret is unusable ({type(exc).__name__})"
        ) from None
    expected = signer.sign(
        msg_id=msg_id, timestamp=datetime.fromtimestamp(stamp, tz=timezone.utc), data=body
    ).encode()
    if not any(hmac.compare_digest(expected, given.encode()) for given in signatures.split()):
        raise _refuse(provider, "signature", "no signature matches the delivery")
    return msg_id, json_body(provider, body)


def verify_openrouter(
    secret: str | None, headers: Mapping[str, str], body: bytes, *, now: float
) -> tuple[str | None, Mapping[str, Any]]:
    """Verify an OpenRouter callback (``X-OpenRouter-Signature: t=…,v1=…``).

    Returns:
        ``(X-OpenRouter-Idempotency-Key or None, body as JSON)``.

    Raises:
        WebhookVerificationError: As `verify_standard`.
    """
    provider = "openrouter"
    key = _need_secret(provider, secret)
    given = header(headers, "x-openrouter-signature")
    if not given:
        raise _refuse(provider, "headers", "X-OpenRouter-Signature is required")
    parts: dict[str, list[str]] = {}
    for item in given.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    stamp_text = (parts.get("t") or [""])[0]
    check_timestamp(provider, stamp_text, now)
    mac = hmac.new(key.encode(), f"{stamp_text},".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(mac, sig.strip().lower()) for sig in parts.get("v1", [])):
        raise _refuse(provider, "signature", "no signature matches the delivery")
    return header(headers, "x-openrouter-idempotency-key"), json_body(provider, body)


def ed25519_keys(document: Any) -> list[bytes]:
    """Return the raw ED25519 public keys of a JWKS document (``OKP`` / ``Ed25519``)."""
    keys = document.get("keys") if isinstance(document, Mapping) else None
    found: list[bytes] = []
    for key in keys if isinstance(keys, list) else []:
        if not isinstance(key, Mapping) or key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
            continue
        x = key.get("x")
        if not isinstance(x, str):
            continue
        try:
            found.append(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
        except (binascii.Error, ValueError):
            continue
    return found


def verify_fal(
    keys: Sequence[bytes], headers: Mapping[str, str], body: bytes, *, now: float
) -> tuple[str, Mapping[str, Any]]:
    """Verify a fal delivery against fal's ED25519 public keys.

    Returns:
        ``(request id, body as JSON)``.

    Raises:
        WebhookVerificationError: As `verify_standard`; ``reason="keys"`` with no key.
        ImportError: The ``cryptography`` package is not installed.
    """
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError as exc:  # pragma: no cover - the extra is a dev dependency
        raise ImportError(f"verifying fal webhooks needs cryptography: {_EXTRA}") from exc
    provider = "fal"
    request_id = header(headers, "x-fal-webhook-request-id")
    user_id = header(headers, "x-fal-webhook-user-id")
    stamp_text = header(headers, "x-fal-webhook-timestamp")
    signature_hex = header(headers, "x-fal-webhook-signature")
    if not (request_id and user_id and stamp_text and signature_hex):
        raise _refuse(
            provider,
            "headers",
            "X-Fal-Webhook-Request-Id, -User-Id, -Timestamp and -Signature are required",
        )
    check_timestamp(provider, stamp_text, now)
    try:
        signature = bytes.fromhex(signature_hex.strip())
    except ValueError:
        raise _refuse(provider, "signature", "the signature is not hexadecimal") from None
    digest = hashlib.sha256(body).hexdigest()
    message = "\n".join((request_id, user_id, stamp_text, digest)).encode()
    if not keys:
        raise _refuse(provider, "keys", "fal's public keys could not be read")
    for raw in keys:
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            continue
        return request_id, json_body(provider, body)
    raise _refuse(provider, "signature", "no signature matches the delivery")
