"""The domain: models, errors, validation, settings, time, events, retries. No I/O to providers or ledgers.

Imports nothing else of soravideo (``lint-imports`` holds it to that).
"""
