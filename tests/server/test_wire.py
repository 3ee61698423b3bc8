"""The API's wire format on its own: camelCase names, opaque maps, hidden fields, bodies."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import soravideo as sv
from soravideo._core.errors import FieldError
from soravideo.server._wire import camel, camel_path, parse_rate_limit, read_video, to_json

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("prompt", "prompt"),
        ("videos[1].aspect_ratio", "videos[1].aspectRatio"),
        ("budget_usd", "budgetUsd"),
        ("videos[0].metadata.my_key", "videos[0].metadata.my_key"),
        ("provider_options.seed_value.x_y", "providerOptions.seed_value.x_y"),
        ("metadata['\\udcff']", "metadata['\\udcff']"),
    ],
)
def test_field_paths_are_named_as_the_api_names_them(path: str, shown: str) -> None:
    assert camel_path(path) == shown


def test_a_job_shows_in_camel_case_with_its_own_keys_and_no_server_paths() -> None:
    now = datetime(2026, 12, 6, tzinfo=timezone.utc)
    job = sv.Job(
        id="job_1",
        status=sv.JobStatus.PENDING,
        request=sv.CreateVideoRequest(
            prompt="a fox", input_reference=PNG, provider_options={"snake_key": 1}
        ),
        provider="sora",
        metadata={"user_key": "v"},
        created_at=now,
        updated_at=now,
        download_dir="/srv/videos",
    )
    shown = to_json(job)
    assert "downloadDir" not in shown and "download_dir" not in shown
    assert shown["createdAt"] == "2026-12-06T00:00:00+00:00" and shown["batchId"] is None
    assert shown["metadata"] == {"user_key": "v"}
    assert shown["request"]["providerOptions"] == {"snake_key": 1}
    assert shown["request"]["inputReference"].startswith("data:image/png;base64,")
    assert all("_" not in key for key in shown)


def test_a_body_with_a_data_uri_or_an_https_url_is_read() -> None:
    errors: list[FieldError] = []
    for reference in ("https://example.com/a.png", "data:image/png;base64,iVBORw0KGgo="):
        request = read_video({"prompt": "a", "inputReference": reference}, "", errors)
        assert request is not None and request.input_reference == reference
    assert errors == []
    assert camel("input_reference") == "inputReference"


def test_rate_limits_read_as_litestar_takes_them() -> None:
    assert parse_rate_limit("100/minute") == ("minute", 100)
    assert parse_rate_limit("1/Seconds") == ("second", 1)
    with pytest.raises(sv.ValidationError):
        parse_rate_limit("-1/day")
