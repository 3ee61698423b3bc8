"""Webhooks: a provider pushes a job's end; ``client.webhooks.handle`` applies it ([W2-7]).

Verify first (the transport knows its provider's scheme), then record the delivery's id in
the ledger (so a retried or duplicated delivery is applied once, across processes), then
apply what it says through polling's compare-and-set writes. Polling goes on as the safety
net: a lost delivery is noticed within ``poll_max_interval``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from .._core.clock import now_utc
from .._core.errors import FieldError, ValidationError, WebhookVerificationError
from .._core.models import Job
from ..transports._webhooks import WebhookDelivery
from .context import ClientContext

__all__ = ["AsyncWebhookService", "WebhookEvent", "WebhookReceiver"]


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """What [`handle`][soravideo.webhooks.AsyncWebhookService.handle] did with one delivery.

    Answer the provider with a ``2xx`` for every event returned (an unknown id and a
    duplicate too: they are acknowledged, not errors); a
    [`WebhookVerificationError`][soravideo.webhooks.WebhookVerificationError] deserves a
    ``4xx``, and any other error a ``5xx`` so that the provider delivers it again.

    Args:
        provider: The transport's name.
        remote_id: The remote video the delivery was about (``None``: about nothing
            soravideo tracks, e.g. a batch event).
        job: The job that owns that video, as the ledger now has it; ``None`` when no job
            does (a video made elsewhere, or whose create's answer is not recorded yet:
            polling will find it).
        applied: Whether the delivery changed the job (its end, or newer progress).
        duplicate: Whether this delivery id was received before (nothing was done again).

    Examples:
        ```python
        event = sv.WebhookEvent(
            provider="replicate", remote_id="n6bycm3x", job=None, applied=False, duplicate=False
        )
        if event.job is None:
            print("acknowledged: no job owns this video (yet); polling finds it")
        ```
    """

    provider: str
    remote_id: str | None
    job: Job | None
    applied: bool
    duplicate: bool


@runtime_checkable
class WebhookReceiver(Protocol):
    """A transport that can verify its provider's webhook deliveries."""

    name: str

    @property
    def webhook_pushes(self) -> bool:
        """Whether the jobs it creates are pushed (their polling is only a safety net)."""
        ...

    async def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> WebhookDelivery:
        """Verify a delivery and read it, or raise ``WebhookVerificationError``."""
        ...


def _unsupported(provider: str, message: str) -> ValidationError:
    return ValidationError([FieldError(field="provider", message=message)])


class AsyncWebhookService:
    """Apply providers' webhook deliveries to the ledger (``client.webhooks``).

    Examples:
        ```python
        service = client.webhooks  # one per client, over its transport and ledger
        print(type(service).__name__)  # AsyncWebhookService
        ```
    """

    def __init__(self, context: ClientContext) -> None:
        self._context = context

    async def handle(
        self, *, provider: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookEvent:
        """Verify one webhook delivery and apply it to the ledger.

        Hand it the raw request: the body exactly as received (bytes: the signature covers
        them) and the headers. It verifies the signature and the timestamp (five minutes
        either way) first, then records the delivery's id in the ledger (a delivery seen
        before, by any process sharing the ledger, is a ``duplicate`` and changes
        nothing), then applies the news through the same compare-and-set writes as
        polling: a job never moves backwards (a late ``processing`` after ``completed``
        is ignored), and a delivery for a video no job owns is acknowledged and recorded,
        not applied. A thin event (Sora's, Gemini's: an id only) costs one status read.

        Args:
            provider: The provider the delivery comes from: the client's transport's name
                (``replicate``, ``fal``, ``openrouter``, ``gemini``, ``sora``).
            headers: The request's headers (any mapping; names in any case).
            body: The request's raw body.

        Returns:
            A [`WebhookEvent`][soravideo.webhooks.WebhookEvent]: the remote id, the job,
            whether the delivery was applied, and whether it was a duplicate.

        Raises:
            WebhookVerificationError: A bad or missing signature, a stale timestamp, a
                body that is not the provider's event, or no secret configured: nothing
                was recorded or applied (answer ``400``/``401``).
            ValidationError: ``provider`` is not this client's provider, or the provider
                sends no webhooks (Runway: its tasks are polled).
            ProviderError: The status read of a thin event failed (answer ``5xx``: the
                provider delivers it again).
            RepositoryError: The ledger refused a write (answer ``5xx``).

        Examples:
            ```python
            # In a web route: the raw body and headers of the provider's POST.
            headers = {"webhook-id": "msg_1", "webhook-timestamp": "1765000000"}
            try:
                event = await client.webhooks.handle(provider="sora", headers=headers, body=b"{}")
            except sv.WebhookVerificationError as exc:
                print(401, exc.reason)  # 401 not_configured: this client has no webhook secret
            else:
                print(200, event.applied, event.duplicate)  # acknowledge every event returned
            ```
        """
        context = self._context
        transport: Any = context.transport
        if provider != transport.name:
            raise _unsupported(
                provider,
                f"this client's provider is {transport.name!r}, not {provider!r}: hand each "
                "provider's deliveries to the client that uses it",
            )
        if not isinstance(transport, WebhookReceiver):
            raise _unsupported(
                provider,
                f"{provider} sends no webhooks that soravideo can verify; its jobs are polled",
            )
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise WebhookVerificationError(
                f"{provider}: the body must be the raw bytes received (the signature covers "
                "them), not a parsed or decoded body",
                provider=provider,
                reason="body",
            )
        delivery = await transport.verify_webhook(
            dict(headers), bytes(body), now=context.clock.time()
        )
        runner = await context.engine()
        repository = context.repository
        remote_id = delivery.remote_ids[0] if delivery.remote_ids else None
        first = await repository.record_webhook_delivery(
            provider, delivery.delivery_id, remote_id=remote_id, received_at=now_utc(context.clock)
        )
        job: Job | None = None
        for candidate in delivery.remote_ids:
            job = await repository.find_job_by_remote_id(provider, candidate)
            if job is not None:
                remote_id = candidate
                break
        if not first or job is None:
            return WebhookEvent(
                provider=provider, remote_id=remote_id, job=job, applied=False, duplicate=not first
            )
        try:
            written = await runner.push(job, delivery.remote)
        except BaseException:
            # Not applied: the provider's retry of this delivery must be applied, not
            # taken for a duplicate.
            await repository.forget_webhook_delivery(provider, delivery.delivery_id)
            raise
        if written is None:
            job = await repository.find_job_by_remote_id(provider, remote_id or "") or job
        return WebhookEvent(
            provider=provider,
            remote_id=remote_id,
            job=written or job,
            applied=written is not None,
            duplicate=False,
        )
