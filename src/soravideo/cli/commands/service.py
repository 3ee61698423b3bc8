"""``health``, ``metrics``, ``worker`` and ``serve``: for whoever runs soravideo as a service."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import anyio
import anyio.abc

from ..context import SERVER_KEYS, Context, shown_ledger
from ..errors import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, UsageError
from ..formatting import table
from ..plumbing import build_client, preflight, settle_simulated, watch

__all__ = ["cmd_health", "cmd_metrics", "cmd_serve", "cmd_worker", "server_keys"]

_SERVER_EXTRA = "serve needs the server extra: pip install 'soravideo[server]'"


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
            await tg.start(_stop_on_signal, ctx, tg.cancel_scope.cancel)
            ctx.note(
                f"worker on {shown_ledger(args)}: waiting for jobs (SIGTERM or Ctrl-C to stop)"
            )
            await client.run_worker()
    finally:
        await client.aclose()
    ctx.note("worker stopped; leases given back")
    return EXIT_OK


def server_keys(api_keys: list[str] | None) -> tuple[str, ...]:
    """Return the API keys ``serve`` accepts: every ``--api-key``, else
    ``$SORAVIDEO_SERVER_API_KEYS``; each may hold several, comma-separated."""
    given = api_keys or [os.environ.get(SERVER_KEYS, "")]
    return tuple(dict.fromkeys(k.strip() for text in given for k in text.split(",") if k.strip()))


async def cmd_serve(ctx: Context) -> int:
    """``soravideo serve``: the REST API, with the engine running as a worker, until
    SIGTERM or Ctrl-C."""
    args = ctx.args
    keys = server_keys(args.api_key)
    if not keys:
        raise UsageError(f"serve needs an API key: --api-key KEY or ${SERVER_KEYS}")
    try:
        from ...server import create_app
        from ...server._uvicorn import make_server
        from ...server._wire import parse_rate_limit
    except ModuleNotFoundError as exc:
        raise UsageError(_SERVER_EXTRA) from exc
    parse_rate_limit(args.rate_limit)  # a bad one is refused before anything starts
    client = build_client(ctx, max_concurrency=args.concurrency)
    try:
        await preflight(client)
        app = create_app(client, api_keys=keys, rate_limit=args.rate_limit)
        server = make_server(app, host=args.host, port=args.port, verbose=args.verbose)

        def stop() -> None:
            server.should_exit = True

        async def announce() -> None:
            await server.listening.wait()
            for address in server.addresses():
                ctx.note(
                    f"serving on {address} (ledger {shown_ledger(args)}; SIGTERM or Ctrl-C to stop)"
                )

        async with anyio.create_task_group() as tg:
            await tg.start(_stop_on_signal, ctx, stop)
            tg.start_soon(announce)
            await server.serve()
            tg.cancel_scope.cancel()
        await settle_simulated(ctx, client)
    finally:
        await client.aclose()
    ctx.note("server stopped; leases given back")
    return EXIT_OK


async def _stop_on_signal(
    ctx: Context,
    stop: Callable[[], None],
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
            ctx.note(f"{ctx.args.command}: {signal.Signals(signum).name}, stopping")
            stop()
            return
    finally:
        receiver.__exit__(None, None, None)
