"""Helpers for checking FakeSora and SoraTransport against the OpenAPI extract of ``/v1/videos``.

``spec/openai-videos-openapi.yaml`` is a copy of ``shared/spec/openai-videos-openapi.yaml``
(MIT, provenance in its header). The spec says ``openapi: 3.1.0``, so instances are
checked with openapi-schema-validator's ``OAS31Validator``.

The documented later additions are accepted explicitly, by widening enums in a copy of the
spec (see ``_extend``); nothing else is relaxed.
"""

from __future__ import annotations

import copy
import email.policy
import functools
import json
import re
from collections.abc import Mapping
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).parent / "spec" / "openai-videos-openapi.yaml"
SPEC_URI = "urn:soravideo:test:openai-videos-openapi"


def _extend(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    # OpenAI's video guide added 16 and 20 second clips after this spec was cut.
    schemas["VideoSeconds"]["enum"] += ["16", "20"]
    # The same guide added 1080p sizes (sora-2-pro).
    schemas["VideoSize"]["enum"] += ["1080x1920", "1920x1080"]
    # OpenAI-compatible gateways report these two statuses (shared/PROVIDERS.md).
    schemas["VideoStatus"]["enum"] += ["cancelled", "expired"]
    # The spritesheet variant is a JPEG (the guide); the spec lists only mp4/webp/json.
    content = spec["paths"]["/videos/{video_id}/content"]["get"]["responses"]["200"]["content"]
    content["image/jpeg"] = {"schema": {"type": "string", "format": "binary"}}
    return spec


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class OpenApi:
    """The (extended) spec, and validators for its schemas, operations and parameters."""

    def __init__(self, raw: dict[str, Any], *, extended: bool = True) -> None:
        self.spec = _extend(raw) if extended else raw
        resource = Resource.from_contents(self.spec, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self._templates = [
            (re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", path) + "$"), path)
            for path in self.spec["paths"]
        ]

    def validator(self, pointer: str) -> OAS31Validator:
        """Return a validator for the schema at this JSON pointer of the extended spec."""
        return OAS31Validator(
            {"$ref": SPEC_URI + pointer},
            registry=self._registry,
            format_checker=oas31_format_checker,
        )

    def schema(self, name: str) -> OAS31Validator:
        """Return a validator for ``components.schemas[name]``."""
        return self.validator(_pointer("components", "schemas", name))

    def template(self, path: str) -> str:
        """Return the spec path template matching a concrete path below ``/v1``."""
        matches = [tpl for regex, tpl in self._templates if regex.match(path)]
        assert len(matches) == 1, f"{path!r} matches {matches}"
        return matches[0]

    def operation(self, method: str, path: str) -> dict[str, Any]:
        """Return the operation object for a method and concrete path."""
        return dict(self.spec["paths"][self.template(path)][method.lower()])

    def check_response(
        self,
        method: str,
        path: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> None:
        """Assert that one response is what the spec allows for that operation."""
        lowered = {k.lower(): v for k, v in headers.items()}
        assert lowered.get("x-request-id"), "every response carries x-request-id"
        media = lowered.get("content-type", "").split(";")[0].strip()
        template = self.template(path)
        if status >= 400:
            assert media == "application/json"
            assert body is not None
            self.schema("ErrorResponse").validate(_json(body))
            if status == 429 and "retry-after" in lowered:
                self.validator(
                    _pointer(
                        "components",
                        "responses",
                        "TooManyRequests",
                        "headers",
                        "Retry-After",
                        "schema",
                    )
                ).validate(int(lowered["retry-after"]))
            return
        assert status == 200, f"the spec documents only 200 for {method} {template}"
        content = self.operation(method, path)["responses"]["200"]["content"]
        assert media in content, f"{media!r} not among {sorted(content)} for {method} {template}"
        if media == "application/json":
            assert body is not None
            self.validator(
                _pointer(
                    "paths",
                    template,
                    method.lower(),
                    "responses",
                    "200",
                    "content",
                    media,
                    "schema",
                )
            ).validate(_json(body))

    def check_request_body(self, method: str, path: str, media: str, body: Any) -> None:
        """Assert that a (parsed) request body matches the operation's schema for ``media``."""
        template = self.template(path)
        self.validator(
            _pointer("paths", template, method.lower(), "requestBody", "content", media, "schema")
        ).validate(body)

    def check_query(self, method: str, path: str, query: Mapping[str, str]) -> None:
        """Assert that every query parameter is declared by the operation and fits its schema."""
        template = self.template(path)
        parameters = self.operation(method, path).get("parameters", [])
        declared = {p["name"]: i for i, p in enumerate(parameters) if p["in"] == "query"}
        for name, value in query.items():
            assert name in declared, f"undeclared query parameter {name!r}"
            index = declared[name]
            typed: Any = value
            if parameters[index]["schema"].get("type") == "integer":
                typed = int(value)
            self.validator(
                _pointer("paths", template, method.lower(), "parameters", str(index), "schema")
            ).validate(typed)


def multipart_form(body: bytes, content_type: str) -> dict[str, Any]:
    """Read a multipart body as the spec's schema sees it: text fields, files as binary strings."""
    # The stdlib's MIME parser, not the fake's own, so the check is independent of it.
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    assert isinstance(message, EmailMessage)
    assert message.is_multipart(), content_type
    form: dict[str, Any] = {}
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str), part
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        form[name] = "<binary>" if part.get_filename() is not None else payload.decode()
    return form


def _json(body: bytes) -> Any:
    return json.loads(body)


@functools.cache
def _load() -> dict[str, Any]:
    loaded = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def load_openapi(*, extended: bool = True) -> OpenApi:
    """Return the spec helper (the documented additions accepted unless ``extended=False``)."""
    return OpenApi(_load(), extended=extended)
