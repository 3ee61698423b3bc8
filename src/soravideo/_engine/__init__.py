"""The engine: the job runner and what it needs beside it (pacing, downloads).

Imports only ``_core``, ``transports`` and ``repositories``.
"""
