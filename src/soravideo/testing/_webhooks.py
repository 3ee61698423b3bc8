"""Signed webhook deliveries from the fakes ([W2-7]), written once for every fake.

Each fake says which events have happened by a given time (``_webhook_events``) and which
scheme its provider signs with (``webhook_scheme``); a `WebhookSender` (``fake.webhooks``)
turns them into signed deliveries and sends them to the URL it is given, or to an
``async`` callable (``handle(headers, body)``) for in-process tests, with knobs to drop,
delay, duplicate and reorder them.

The schemes, as the providers document them:

- ``"standard"`` (Sora's ``video.*`` events, Gemini, Replicate): Standard Webhooks, signed
  by the ``standardwebhooks`` package with a ``whsec_`` secret.
- ``"fal"``: ED25519 over ``request_id``, ``user_id``, ``timestamp`` and the body's SHA-256;
  the fake serves its public key as a JWKS document (``FakeFal.jwks_path``).
- ``"openrouter"``: ``X-OpenRouter-Signature: t=…,v1=<hex HMAC-SHA256 of "{t},{body}">``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from collections.abc import Awaitable, Callable, Container, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import attrs
import httpx

if TYPE_CHECKING:
    from ._fakeserver import FakeServer

__all__ = ["FakeWebhookEvent", "SentDelivery", "WebhookSender", "WebhookTarget"]

WebhookTarget = str | Callable[[dict[str, str], bytes], Awaitable[Any]]
"""Where deliveries go: a URL (POSTed with httpx) or ``async def handle(headers, body)``."""

Scheme = Literal["standard", "fal", "openrouter"]


@attrs.frozen(kw_only=True)
class FakeWebhookEvent:
    """One event a fake's provider would push.

    Args:
        key: Unique per event (``"{remote id}:{kind}"``): it is delivered once (and
            its duplicates).
        at: When it happened (the fake's clock).
        remote_id: The job's id as the fake knows it.
        kind: The provider's event name.
        url: The URL the job was created with (``None``: the project's webhook).
        payload: The body, as JSON.
    """

    key: str
    at: float
    remote_id: str
    kind: str
    url: str | None
    payload: Mapping[str, Any]


@attrs.define(kw_only=True)
class SentDelivery:
    """A delivery made (or dropped): what was sent, and what the receiver answered."""

    delivery_id: str
    event: FakeWebhookEvent
    due: float
    seq: int
    dropped: bool = False
    sent_at: float | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    answer: Any = None
    error: BaseException | None = None


class WebhookSender:
    """Send a fake's events as signed webhook deliveries (``fake.webhooks``).

    Nothing is sent until a target is configured. Then ``await flush()`` sends every
    delivery that is due on the fake's clock, and ``await run()`` keeps doing so (on the
    fake's clock: simulated or real time) until cancelled.

    Args:
        fake: The fake whose events are sent.
    """

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        self.target: WebhookTarget | None = None
        rng = random.Random(f"{fake.seed}:webhooks")
        self._rng = rng
        self.secret: str = "whsec_" + base64.b64encode(rng.randbytes(24)).decode()
        """The signing secret (Standard Webhooks ``whsec_…``; OpenRouter's workspace
        secret). fal signs with ``private_key`` instead."""
        if fake.webhook_scheme == "openrouter":
            self.secret = "or_whsec_" + rng.randbytes(16).hex()
        self._private: Any = None
        self.user_id = f"user-{rng.randbytes(4).hex()}"
        self.drop = 0
        self.drop_rate = 0.0
        self.delay = 0.0
        self.duplicate = 1
        self.reorder = False
        self.skew = 0.0
        self._seen: set[str] = set()
        self._queue: list[SentDelivery] = []
        self._seq = 0
        self.deliveries: list[SentDelivery] = []
        """Every delivery made or dropped, in the order decided."""

    # -- configuration -------------------------------------------------------------------

    def configure(
        self,
        target: WebhookTarget | None = None,
        *,
        drop: int = 0,
        drop_rate: float = 0.0,
        delay: float = 0.0,
        duplicate: int = 1,
        reorder: bool = False,
        skew: float = 0.0,
    ) -> WebhookSender:
        """Start sending, and set the knobs.

        Args:
            target: Where deliveries go: a URL, or ``async def handle(headers, body)``.
                ``None``: each job's own URL (its create's ``webhook``, ``fal_webhook``
                or ``callback_url``).
            drop: Lose the next ``drop`` deliveries (never sent).
            drop_rate: Lose each delivery with this probability (seeded).
            delay: Seconds between an event and its delivery.
            duplicate: Send each delivery this many times (same delivery id).
            reorder: Send the deliveries due together newest first.
            skew: Seconds added to each signature's timestamp (negative: in the past).

        Returns:
            This sender.
        """
        self.target = target
        self.drop, self.drop_rate, self.delay = drop, drop_rate, delay
        self.duplicate, self.reorder, self.skew = max(1, duplicate), reorder, skew
        return self

    # -- signing -------------------------------------------------------------------------

    @property
    def private_key(self) -> Any:
        """fal's signing key (an ``Ed25519PrivateKey``, seeded)."""
        if self._private is None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            self._private = Ed25519PrivateKey.from_private_bytes(self._rng.randbytes(32))
        return self._private

    def jwks(self) -> dict[str, Any]:
        """Return the JWKS document of fal's public key (what fal publishes)."""
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "x": x}]}

    def sign(
        self,
        body: bytes,
        *,
        delivery_id: str | None = None,
        timestamp: float | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        """Return the headers the provider would send with ``body``.

        Args:
            body: The raw body.
            delivery_id: The delivery's id (default: a new one; fal's is the request id
                in the body).
            timestamp: Unix seconds (default: the fake's clock now, plus ``skew``).
            secret: Sign with another secret (a forged delivery).
        """
        stamp = int((self.fake.now() + self.skew) if timestamp is None else timestamp)
        scheme = self.fake.webhook_scheme
        if scheme == "standard":
            from standardwebhooks.webhooks import Webhook

            msg_id = delivery_id or f"msg_{self._rng.randbytes(12).hex()}"
            signature = Webhook(secret or self.secret).sign(
                msg_id=msg_id, timestamp=datetime.fromtimestamp(stamp, tz=timezone.utc), data=body
            )
            return {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": signature,
            }
        if scheme == "openrouter":
            key = (secret or self.secret).encode()
            mac = hmac.new(key, f"{stamp},".encode() + body, hashlib.sha256).hexdigest()
            return {
                "content-type": "application/json",
                "x-openrouter-signature": f"t={stamp},v1={mac}",
                "x-openrouter-idempotency-key": delivery_id
                or f"whk_{self._rng.randbytes(8).hex()}",
            }
        request_id = delivery_id or str(json.loads(body).get("request_id"))
        digest = hashlib.sha256(body).hexdigest()
        message = "\n".join((request_id, self.user_id, str(stamp), digest)).encode()
        signer = self.private_key
        if secret is not None:  # a forged delivery: another key
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            signer = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(secret.encode()).digest())
        return {
            "content-type": "application/json",
            "x-fal-webhook-request-id": request_id,
            "x-fal-webhook-user-id": self.user_id,
            "x-fal-webhook-timestamp": str(stamp),
            "x-fal-webhook-signature": signer.sign(message).hex(),
        }

    @staticmethod
    def encode(payload: Mapping[str, Any]) -> bytes:
        """Return a payload as the provider would send it (compact JSON)."""
        return json.dumps(payload, separators=(",", ":")).encode()

    def signed(self, payload: Mapping[str, Any], **kwargs: Any) -> tuple[dict[str, str], bytes]:
        """Return ``(headers, body)`` of ``payload`` signed (`sign`'s arguments)."""
        body = self.encode(payload)
        return self.sign(body, **kwargs), body

    # -- events --------------------------------------------------------------------------

    def events(self) -> list[FakeWebhookEvent]:
        """Return every event that has happened by now on the fake's clock."""
        return self._events(frozenset())

    def _events(self, known: Container[str]) -> list[FakeWebhookEvent]:
        """The events that have happened by now, but those whose key is in ``known``."""
        now = self.fake.now()
        with self.fake._lock:
            found = list(self.fake._webhook_events(now, known))
        if self.fake.webhook_needs_url:
            found = [event for event in found if event.url]
        return sorted(found, key=lambda e: (e.at, e.key))

    def _collect(self) -> None:
        # Only the events not seen yet: the fake builds no payload again for the others
        # (this runs twice a tick of ``run``, with every job the fake ever had).
        for event in self._events(self._seen):
            self._seen.add(event.key)
            dropped = self.drop > 0 or (self.drop_rate > 0 and self._rng.random() < self.drop_rate)
            if self.drop > 0:
                self.drop -= 1
            delivery_id = (
                event.remote_id.rsplit(":", 1)[-1]
                if self.fake.webhook_scheme == "fal"
                else f"msg_{self._rng.randbytes(12).hex()}"
            )
            copies = 1 if dropped else self.duplicate
            for _ in range(copies):
                self._seq += 1
                delivery = SentDelivery(
                    delivery_id=delivery_id,
                    event=event,
                    due=event.at + self.delay,
                    seq=self._seq,
                    dropped=dropped,
                )
                self.deliveries.append(delivery)
                if not dropped:
                    self._queue.append(delivery)

    def pending(self) -> list[SentDelivery]:
        """Return the deliveries decided but not sent yet."""
        self._collect()
        return list(self._queue)

    def next_due(self) -> float | None:
        """When the next delivery falls due (a pending one, or the next job's end)."""
        self._collect()
        times = [d.due for d in self._queue]
        with self.fake._lock:
            ends = self.fake._end_times(self.fake.now())
        times += [end + self.delay for end in ends]
        return min(times) if times else None

    # -- sending -------------------------------------------------------------------------

    async def flush(self) -> list[SentDelivery]:
        """Send every delivery due now; return them (each with its answer or error)."""
        if self.target is None and not self.fake.webhook_needs_url:
            return []
        self._collect()
        now = self.fake.now()
        due = sorted((d for d in self._queue if d.due <= now), key=lambda d: (d.due, d.seq))
        if self.reorder:
            due.reverse()
        for delivery in due:
            self._queue.remove(delivery)
        for delivery in due:
            await self._send(delivery)
        return due

    async def _send(self, delivery: SentDelivery) -> None:
        body = self.encode(delivery.event.payload)
        delivery.body = body
        delivery.headers = self.sign(body, delivery_id=delivery.delivery_id)
        delivery.sent_at = self.fake.now()
        target = self.target if self.target is not None else delivery.event.url
        try:
            if callable(target):
                delivery.answer = await target(dict(delivery.headers), body)
            elif isinstance(target, str):
                async with httpx.AsyncClient(timeout=10.0) as client:
                    response = await client.post(target, content=body, headers=delivery.headers)
                delivery.answer = response.status_code
        except Exception as exc:  # recorded: a provider logs a failed delivery and moves on
            delivery.error = exc

    async def run(self, *, tick: float = 1.0) -> None:
        """Send deliveries as they fall due on the fake's clock, until cancelled.

        Args:
            tick: The longest sleep between two looks (seconds of the fake's clock).
        """
        clock = self.fake.clock
        while True:
            await self.flush()
            now = self.fake.now()
            upcoming = self.next_due()
            wait = tick if upcoming is None or upcoming <= now else min(tick, upcoming - now)
            await clock.sleep(wait)
