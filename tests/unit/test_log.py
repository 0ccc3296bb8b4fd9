"""Logging: stderr only, levels, both renderers, and secrets never written."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
import structlog

from mcp_oauth2_proxy.log import (
    MASK,
    configure_logging,
    forget_secrets,
    get_logger,
    is_enabled,
    redact_text,
    register_secret,
)

SECRETS = {
    "access": "at-9f8e7d6c5b4a",
    "refresh": "rt-0a1b2c3d4e5f",
    "id": "idt-aa11bb22cc33",
    "code": "authcode-55667788",
    "verifier": "verifier-99aabbccdd",
    "client_secret": "cs-ffeeddccbbaa",
    "assertion": "eyJhbGciOiJSUzI1NiJ9.assertion.sig",
    "password": "pw-correct-horse",
    "cookie": "session=cookie-12345678",
    "header": "hdr-value-31415926",
}


@pytest.fixture(autouse=True)
def _isolate() -> Iterator[None]:
    yield
    forget_secrets()
    structlog.reset_defaults()


def fail_with(message: str) -> None:
    raise RuntimeError(message)


def emit_everything(fmt: str, level: str = "debug") -> str:
    out = io.StringIO()
    configure_logging(level, fmt, stream=out, extra_secrets=[SECRETS["header"]])
    log = get_logger("test")
    log.info(
        "oauth.token_received",
        access_token=SECRETS["access"],
        nested={"deeper": [{"refresh_token": SECRETS["refresh"]}, {"id_token": SECRETS["id"]}]},
        headers={"Authorization": f"Bearer {SECRETS['access']}", "Cookie": SECRETS["cookie"]},
        url=f"http://127.0.0.1:1/callback?state=s&code={SECRETS['code']}&x=1",
        body=f'{{"client_secret": "{SECRETS["client_secret"]}", "ok": 1}}',
        form=f"grant_type=authorization_code&code_verifier={SECRETS['verifier']}",
        sent={"X-Api-Key": SECRETS["header"]},
        ClientAssertion=SECRETS["assertion"],
        Password=SECRETS["password"],
    )
    try:
        fail_with(f"token endpoint said refresh_token={SECRETS['refresh']} is bad")
    except RuntimeError:
        log.exception("oauth.refresh_failed")
    log.warning("upstream.error", error=ValueError(f"Bearer {SECRETS['access']} rejected"))
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_no_secret_of_any_kind_reaches_the_log(fmt: str) -> None:
    text = emit_everything(fmt)
    for name, secret in SECRETS.items():
        assert secret not in text, f"{name} leaked through the {fmt} renderer"
    assert MASK in text
    assert "oauth.token_received" in text


def test_json_lines_are_one_object_per_event_with_dotted_names() -> None:
    lines = emit_everything("json").splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert [e["event"] for e in events] == [
        "oauth.token_received",
        "oauth.refresh_failed",
        "upstream.error",
    ]
    assert events[0]["level"] == "info"
    assert events[2]["level"] == "warn"
    assert "time" in events[0]


def test_non_secret_fields_stay_readable() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    get_logger().info("upstream.connected", url="https://mcp.example.com/mcp?page=2", status=200)
    event = json.loads(out.getvalue())
    assert event["url"] == "https://mcp.example.com/mcp?page=2"
    assert event["status"] == 200


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("trace", {"debug", "info", "warn", "error"}),
        ("debug", {"debug", "info", "warn", "error"}),
        ("info", {"info", "warn", "error"}),
        ("warn", {"warn", "error"}),
        ("error", {"error"}),
        ("fatal", set()),
        ("silent", set()),
    ],
)
def test_levels_filter_events(level: str, shown: set[str]) -> None:
    out = io.StringIO()
    configure_logging(level, "json", stream=out)
    log = get_logger()
    log.debug("e.debug")
    log.info("e.info")
    log.warning("e.warn")
    log.error("e.error")
    got = {json.loads(line)["level"] for line in out.getvalue().splitlines()}
    assert got == shown


def test_silent_drops_even_fatal_events() -> None:
    out = io.StringIO()
    configure_logging("silent", "json", stream=out)
    get_logger().critical("e.fatal")
    assert out.getvalue() == ""
    assert not is_enabled("fatal")


def test_trace_detail_is_enabled_only_at_trace() -> None:
    configure_logging("trace", "json", stream=io.StringIO())
    assert is_enabled("trace")
    configure_logging("debug", "json", stream=io.StringIO())
    assert not is_enabled("trace")
    assert is_enabled("debug")


def test_text_redaction_covers_urls_bodies_and_registered_values() -> None:
    register_secret("opaque-token-value")
    text = redact_text(
        "GET /cb?code=abc123&state=ok sent opaque-token-value with "
        'Authorization: Basic dXNlcjpwYXNz and {"access_token":"zzz"}'
    )
    for secret in ("abc123", "opaque-token-value", "dXNlcjpwYXNz", "zzz"):
        assert secret not in text
    assert "state=ok" in text


def test_short_values_are_not_registered_as_secrets() -> None:
    register_secret("a")
    assert redact_text("a cat") == "a cat"


def test_events_below_the_level_never_load_structlog_and_the_first_warning_does() -> None:
    code = (
        "import io, sys\n"
        "from mcp_oauth2_proxy.log import configure_logging, get_logger\n"
        "out = io.StringIO()\n"
        "configure_logging('warn', 'json', stream=out)\n"
        "log = get_logger('x')\n"
        "log.info('bridge.started', upstream='u')\n"
        "assert 'structlog' not in sys.modules, 'loaded for a filtered event'\n"
        "log.warning('upstream.slow', secs=3)\n"
        "assert 'structlog' in sys.modules\n"
        "print(out.getvalue(), end='')\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    event = json.loads(done.stdout)
    assert (event["event"], event["level"], event["secs"]) == ("upstream.slow", "warn", 3)
