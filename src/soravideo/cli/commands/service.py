"""``health``, ``metrics`` and ``worker``: for whoever runs soravideo as a service."""

from __future__ import annotations

import signal

import anyio
import anyio.abc

from ..context import Context, shown_ledger
from ..errors import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from ..formatting import table
from ..plumbing import build_client, preflight, watch

__all__ = ["cmd_health", "cmd_metrics", "cmd_worker"]


async def cmd_health(ctx: Context) -> int:
    """``soravideo health``: check the ledger and the provider."""
    client = build_client(ctx)
    try:
        health = client.health()
        ready = await client.ready()
    finally:
        await client.aclose()
    ctx.document({"health": health.to_dict(), "ready": ready.to_dict()})
    ctx.line(f"soravideo {health.version}: {'ready' if ready.ready else 'NOT ready'}")
    rows = [
        (check.name, check.status, f"{check.latency_ms:.1f} ms", check.reason or "")
        for check in ready.checks
    ]
    for text in table(("CHECK", "STATUS", "LATENCY", "REASON"), rows, right="LATENCY"):
        ctx.line(f"  {text}")
    failing = {check.name for check in ready.checks if not check.healthy}
    if not failing:
        return EXIT_OK
    ctx.note(f"error: not ready: {', '.join(sorted(failing))} unhealthy")
    return EXIT_UNREACHABLE if "provider" in failing else EXIT_USAGE


async def cmd_metrics(ctx: Context) -> int:
    """``soravideo metrics``: Prometheus text, or a JSON document."""
    client = build_client(ctx)
    try:
        metrics = await client.metrics()
    finally:
        await client.aclose()
    ctx.document(metrics.to_dict())
    if not ctx.json:
        ctx.stdout.write(metrics.to_prometheus())
        ctx.stdout.flush()
    return EXIT_OK


async def cmd_worker(ctx: Context) -> int:
    """``soravideo worker``: claim and run jobs until SIGTERM or Ctrl-C."""
    args = ctx.args
    client = build_client(ctx, max_concurrency=args.concurrency)
    try:
        await preflight(client)
        watch(ctx, client, to_stdout=True)
        async with anyio.create_task_group() as tg:
            await tg.start(_stop_on_signal, ctx, tg.cancel_scope)
            ctx.note(
                f"worker on {shown_ledger(args)}: waiting for jobs (SIGTERM or Ctrl-C to stop)"
            )
            await client.run_worker()
    finally:
        await client.aclose()
    ctx.note("worker stopped; leases given back")
    return EXIT_OK


async def _stop_on_signal(
    ctx: Context,
    scope: anyio.CancelScope,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    try:
        receiver = anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT)
        signals = receiver.__enter__()
    except NotImplementedError:
        # Windows: Ctrl-C arrives as KeyboardInterrupt, which main() treats as a stop.
        task_status.started()
        return
    try:
        task_status.started()
        async for signum in signals:
            ctx.note(f"worker: {signal.Signals(signum).name}, stopping")
            scope.cancel()
            return
    finally:
        receiver.__exit__(None, None, None)
