"""The engine: the job runner and the parts beside it (queue, pacing, ledger writes, claims,
submission and reconciliation, polling, leases, cancels, downloads).

Imports only ``_core``, ``transports`` and ``repositories``.
"""
