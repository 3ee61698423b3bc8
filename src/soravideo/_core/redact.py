"""One place that hides secrets from everything soravideo shows: reprs, errors, logs, CLI lines.

Two kinds of secret are hidden:

- **known strings** (an API key, the password of a base URL or DSN): replaced by ``***``
  wherever they occur (``redact`` for data, ``redact_text`` for messages);
- **secrets by shape**, in any message: the password of a URL's userinfo
  (``postgresql://admin:***@db/ledger``), and the value of every credential-named
  ``name=value`` pair, whether a URL query parameter (``?key=***``, ``&api-key=***``) or a
  libpq keyword (``host=db password=***``).

``secrets_in`` lists the secrets a URL or DSN holds, so that a component given one (a
transport's base URL, a repository's DSN) can hide them by value as well, even where a
driver quotes them in another shape. ``scrub_exception`` cleans an exception and
everything chained to it (``__cause__``, ``__context__``) in place, so that no error reachable
from a soravideo error shows a secret either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote, unquote_plus

__all__ = [
    "REDACTED",
    "is_credential_header",
    "is_credential_name",
    "redact",
    "redact_text",
    "redact_url",
    "scrub_exception",
    "secrets_in",
]

REDACTED = "***"
# Shorter "secrets" would scrub ordinary words out of messages; real keys are far longer.
_MIN_SECRET_LENGTH = 4
# How far an exception chain is followed (a cycle or a pathological chain stops there).
_MAX_CHAIN = 64

# Names whose value is a credential: query parameters, libpq keywords, form fields.
_CREDENTIAL_NAMES = frozenset(
    {
        "key",
        "apikey",
        "api_key",
        "access_key",
        "secret_key",
        "private_key",
        "password",
        "passwd",
        "pwd",
        "pass",
        "sslpassword",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "authorization",
        "sig",
        "signature",
        "credential",
        "credentials",
    }
)
_CREDENTIAL_SUFFIXES = ("_password", "_secret", "_token", "_api_key", "_apikey", "_signature")
# Header names that carry credentials, beyond those a transport marks itself.
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "api-key", "x-api-key", "x-goog-api-key"}
)
_CREDENTIAL_HEADER_PARTS = ("api-key", "apikey", "token", "secret", "password", "auth", "signature")

# Linear on any text: each pattern starts only where a run of the characters of its scheme or
# name starts (the lookbehind), skips the run's leading non-letters (``lead``), and so scans a
# run once. (Starting anywhere inside a run, as they once did, made one long token of a log
# line cost the square of its length: 40 s for a 64 KiB ``x-request-id``.)
#
# ``scheme://user:password@`` (the password may hold anything but the authority's ends; one
# slash is enough, as in a URL that became a path).
_USERINFO = re.compile(
    r"(?<![A-Za-z0-9+.\-])"
    r"(?P<head>[0-9+.\-]*[A-Za-z][A-Za-z0-9+.\-]*:/+[^\s:/?#@\"'<>]*:)"
    r"(?P<password>[^\s/?#\"'<>]*)@"
)
# ``name=value`` with an optional quoted value (libpq quotes with '...', escaping with \).
_PAIR = re.compile(
    r"(?<![A-Za-z0-9_.\-])(?P<lead>[0-9_.\-]*)"
    r"(?P<name>[A-Za-z][A-Za-z0-9_.\-]*)(?P<eq>\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'?|\"[^\"]*\"?|[^\s&#]*)"
)
# The same in a libpq keyword DSN, where an unquoted value runs to the next blank.
_KEYWORD = re.compile(
    r"(?<![A-Za-z0-9_.\-])(?P<lead>[0-9_.\-]*)"
    r"(?P<name>[A-Za-z][A-Za-z0-9_.\-]*)(?P<eq>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'?|\S*)"
)


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(".", "_")


def is_credential_name(name: str) -> bool:
    """Whether a query parameter, DSN keyword or field called ``name`` holds a credential.

    Args:
        name: The name (case, ``-`` and ``_`` do not matter): ``password``, ``api-key`` …

    Returns:
        ``True`` for passwords, keys, tokens, secrets and signatures.
    """
    normal = _normal(name)
    if normal.startswith("x_"):
        normal = normal[2:]
    return normal in _CREDENTIAL_NAMES or normal.endswith(_CREDENTIAL_SUFFIXES)


def is_credential_header(name: str) -> bool:
    """Whether an HTTP header called ``name`` carries a credential.

    ``Authorization`` (``Bearer …``, ``Key …``, ``Basic …``), ``Proxy-Authorization``,
    ``Cookie``, ``api-key``, ``x-api-key``, ``x-goog-api-key`` and any name holding
    ``api-key``, ``token``, ``secret``, ``password``, ``auth`` or ``signature``.

    Args:
        name: The header name, in any case.

    Returns:
        ``True`` when the header must never leave for another origin nor be shown.
    """
    lower = name.strip().lower()
    return lower in _CREDENTIAL_HEADERS or any(part in lower for part in _CREDENTIAL_HEADER_PARTS)


def _hidden(secrets: Iterable[str | None]) -> list[str]:
    # Longest first: a secret that contains another is replaced whole.
    unique = {s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}
    return sorted(unique, key=len, reverse=True)


def redact(
    value: Any,
    secrets: Iterable[str | None],
    *,
    shapes: bool = False,
    source: bytes | None = None,
) -> Any:
    """Return ``value`` with every known secret replaced by ``***`` in every string it holds.

    By default only the given strings are replaced, nothing by shape: this is for data kept
    as it came (a provider's answer), where a download URL's signature must survive.

    Args:
        value: A string, or JSON-like data (dicts, lists) holding strings.
        secrets: The strings to hide (very short ones are ignored).
        shapes: Also hide secrets by shape, as ``redact_text`` does (for error bodies
            and other text only ever shown).
        source: The JSON text (``json.loads`` bytes) ``value`` was read from, or part of
            it. When it holds no escape and none of the secrets, no string read from it
            can hold one: one scan of its bytes instead of writing ``value`` out again
            (a list page's videos, [W2-4]).

    Returns:
        A scrubbed copy (the same object when nothing needed scrubbing).
    """
    hidden = _hidden(secrets)
    if not hidden and not shapes:
        return value
    if not shapes and source is not None and _absent_from(source, hidden):
        return value
    if not shapes and not _may_hold(value, hidden):
        return value
    return _replace(value, hidden, shapes)


def _absent_from(source: bytes, hidden: list[str]) -> bool:
    """Whether no string parsed from the JSON text ``source`` can hold any of ``hidden``
    (``False`` when not sure).

    Sure only for UTF-8 text (``json.loads`` reads bytes with no NUL as UTF-8; UTF-16 and
    UTF-32 JSON always has some) with no backslash: each string it holds is then its own
    bytes between quotes, so a secret in one is in the text as it is.
    """
    if b"\\" in source or b"\x00" in source:
        return False
    return not any(secret.encode("utf-8", "surrogatepass") in source for secret in hidden)


def _may_hold(value: Any, hidden: list[str]) -> bool:
    """Whether any of ``hidden`` may appear in JSON-like ``value`` (``False`` only when sure).

    One look at its JSON text instead of a walk of every string: a secret JSON would not
    write as it is (one holding a quote, a backslash or a control character), or data JSON
    cannot write, is walked as before.
    """
    if type(value) is str:
        return any(secret in value for secret in hidden)
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return True
    return any(secret in text or not _json_verbatim(secret) for secret in hidden)


def _json_verbatim(secret: str) -> bool:
    return secret.isprintable() and '"' not in secret and "\\" not in secret


def _replace(value: Any, hidden: list[str], shapes: bool) -> Any:
    if isinstance(value, str):
        if shapes:
            return redact_text(value, hidden)
        for secret in hidden:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {_replace(k, hidden, shapes): _replace(v, hidden, shapes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace(v, hidden, shapes) for v in value]
    return value


def _hide_pair(match: re.Match[str]) -> str:
    if not is_credential_name(match["name"]) or not match["value"]:
        return match[0]
    value = match["value"]
    quote = value[0] if value[0] in "'\"" else ""
    return f"{match['lead']}{match['name']}{match['eq']}{quote}{REDACTED}{quote}"


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return a message with known secrets and every secret by shape replaced by ``***``.

    Hides, in this order: each of ``secrets``; the password of every URL's userinfo
    (``http://user:***@host``); the value of every credential-named ``name=value`` pair
    (``?key=***``, ``api-key=***``, ``password=***``, ``password='***'``).

    Args:
        text: A message, a log line, a URL or a DSN.
        secrets: Strings known to be secret (an API key; see ``secrets_in``).

    Returns:
        The scrubbed text.
    """
    for secret in _hidden(secrets):
        text = text.replace(secret, REDACTED)
    if "@" in text:
        text = _USERINFO.sub(
            lambda m: f"{m['head']}{REDACTED}@" if m["password"] else m[0],
            text,
        )
    if "=" in text:
        text = _PAIR.sub(_hide_pair, text)
    return text


def redact_url(url: str) -> str:
    """Return a URL or DSN fit to show: its password and credential parameters as ``***``.

    ``postgresql://admin:SECRET@db/x?sslpassword=S`` → ``postgresql://admin:***@db/x?sslpassword=***``;
    ``host=db password=SECRET`` → ``host=db password=***``.

    Args:
        url: A URL (``http://``, ``postgresql://`` …), a libpq keyword DSN, or a path.

    Returns:
        The same text with its secrets hidden.
    """
    return redact_text(url, secrets_in(url))


def secrets_in(url: str) -> tuple[str, ...]:
    """Return the secrets a URL or DSN holds, as written and percent-decoded.

    The userinfo's password, every credential-named query parameter's value, and every
    credential-named libpq keyword's value (quotes and escapes removed).

    Args:
        url: A URL or a libpq keyword DSN.

    Returns:
        The secrets, for ``redact`` and ``redact_text``; empty when there are none.
    """
    found: list[str] = []
    for match in _USERINFO.finditer(url):
        found += [match["password"], unquote(match["password"])]
    pairs = _PAIR if "://" in url else _KEYWORD
    for match in pairs.finditer(url):
        if not is_credential_name(match["name"]):
            continue
        value = match["value"]
        if value[:1] == "'":
            value = re.sub(r"\\(.)", r"\1", value[1:-1] if value.endswith("'") else value[1:])
        elif value[:1] == '"':
            value = value[1:-1] if value.endswith('"') else value[1:]
        found += [value, unquote_plus(value)]
    return tuple(dict.fromkeys(s for s in found if s))


def scrub_exception(
    error: BaseException,
    secrets: Iterable[str | None] = (),
    clean: Callable[[BaseException], None] | None = None,
) -> None:
    """Hide secrets in ``error`` and every exception chained to it, in place.

    Each exception on the ``__cause__`` / ``__context__`` chain gets its string arguments
    (and an ``OSError``'s file names) passed through ``redact_text``; ``clean`` is then
    called on it to drop what only its library knows about (an HTTP request's headers, a
    database driver's connection). Meant for errors soravideo caught and chains its own to.

    Args:
        error: The caught exception.
        secrets: Strings known to be secret.
        clean: Called once per exception in the chain, after its messages are scrubbed.
    """
    hidden = _hidden(secrets)
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending and len(seen) < _MAX_CHAIN:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        _scrub_one(current, hidden)
        if clean is not None:
            clean(current)
        pending += [current.__cause__, current.__context__]


def _scrub_one(error: BaseException, hidden: list[str]) -> None:
    if isinstance(error, OSError):
        for attr in ("strerror", "filename", "filename2"):
            value = getattr(error, attr, None)
            if isinstance(value, str):
                setattr(error, attr, redact_text(value, hidden))
        return
    if any(isinstance(arg, str) for arg in error.args):
        error.args = tuple(
            redact_text(arg, hidden) if isinstance(arg, str) else arg for arg in error.args
        )
