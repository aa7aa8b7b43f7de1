"""Holes an adversarial review found in reading the API's answers, each reproduced as the attack was described.

- A token echoed across the cut of an error message or request id must not leave a usable fragment behind.
- An audit record must stay one line for every reader, whatever line breaks the values hold.
- A small gzip body that expands hugely must be refused before it is expanded.
- A body that cannot be read (bad gzip, absurdly deep JSON) must become a typed error, never a raw exception.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import struct
import sys
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.types import CallToolResult
from pydantic import SecretStr

from tests.conftest import RecordingTransport, scripted, session
from tests.faults.conftest import fault_settings
from tests.faults.fake_api import FakeApi, Reply, json_reply
from ubiops_services_mcp.api import errors
from ubiops_services_mcp.api.client import ApiConfig, ServicesApi, build_http_client
from ubiops_services_mcp.api.models import ServiceUpdate
from ubiops_services_mcp.api.retry import RetryPolicy
from ubiops_services_mcp.audit import AuditLog
from ubiops_services_mcp.check import run_check
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

LONG_TOKEN = "f3a9c1e07b5d4a2e9c8b1f6d0e7a3b5c9d2e4f10"  # 40 characters, as UbiOps tokens are
SENT = f"Token {LONG_TOKEN}"
MESSAGE_CUT = 1000
REQUEST_ID_CUT = 200
FRAGMENT = errors.MIN_SECRET_CHARS
SERVICE = {"name": "svc", "deployment": "hello-world", "port": 8080}
DETAIL = {
    "id": "id-1", "name": "svc", "deployment": "hello-world", "version": None, "port": 8080, "labels": {},
    "authentication_required": True, "time_created": "2025-01-01T00:00:00Z", "time_updated": "2025-01-01T00:00:00Z",
}  # fmt: skip
# Every character str.splitlines() breaks a line on, found rather than listed so that none is forgotten.
LINE_BREAKS = "".join(chr(c) for c in range(sys.maxunicode + 1) if len(f"a{chr(c)}b".splitlines()) == 2)


def fragments(text: str, token: str = LONG_TOKEN) -> list[str]:
    """Every run of FRAGMENT characters of the token found in `text` (any longer run holds one of these)."""
    return [token[i : i + FRAGMENT] for i in range(len(token) - FRAGMENT + 1) if token[i : i + FRAGMENT] in text]


def across(cut: int, kept: int, secret: str = SENT) -> str:
    """Text that puts the first `kept` characters of `secret` just before `cut`, and the rest just after it."""
    return "x" * (cut - kept) + secret + " and more"


def result_text(result: CallToolResult) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content) + json.dumps(result.structured_content)


# --- 1. token fragments near a cut ----------------------------------------------------------------

KEPT = (FRAGMENT + 6, 30, 40, 43, 45)  # characters of "Token <token>" before the cut: 12 to 39 of the token


def echo_across_cuts(kept: int) -> Callable[[httpx.Request], httpx.Response]:
    """An API whose error and request id each carry the caller's Authorization across the point we cut at."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"]
        body = {"error": across(MESSAGE_CUT, kept, sent)}
        return httpx.Response(400, json=body, headers={"x-request-id": across(REQUEST_ID_CUT, kept, sent)})

    return handler


def echo_in_content_type(request: httpx.Request) -> httpx.Response:
    """A 200 whose content type (quoted back in our 'not JSON' message) carries the Authorization."""
    return httpx.Response(
        200, content=b"<html/>", headers={"content-type": f"text/html; {request.headers['authorization']}"}
    )


def long_token(settings: Settings) -> Settings:
    return dataclasses.replace(settings, api_token=SecretStr(LONG_TOKEN), max_attempts=1)


@pytest.mark.parametrize("kept", KEPT)
async def test_no_token_fragment_in_results_or_audit_when_echoed_across_the_cuts(settings: Settings, kept: int) -> None:
    await assert_no_fragments(long_token(settings), scripted(echo_across_cuts(kept)))


async def test_no_token_fragment_from_a_content_type_echo(settings: Settings) -> None:
    await assert_no_fragments(long_token(settings), scripted(echo_in_content_type))


async def assert_no_fragments(settings: Settings, transport: RecordingTransport) -> None:
    async with session(settings, transport) as client:
        results = [
            await client.call_tool("services_create", {"data": SERVICE}),
            await client.call_tool("services_get", {"service_name": "svc"}),
        ]
    assert all(r.is_error for r in results)
    assert all(r.headers["authorization"] == SENT for r in transport.requests), "the long token was sent"
    assert fragments("\n".join(result_text(r) for r in results)) == []
    audit = settings.audit_log_path.read_text()
    assert '"request_id":' in audit
    assert fragments(audit) == []


@pytest.mark.parametrize("kept", KEPT)
def test_no_token_fragment_in_error_objects(kept: int) -> None:
    request = httpx.Request("GET", "https://api.test/x", headers={"Authorization": SENT})
    for key in ("error", "error_message", "detail"):
        body = {key: across(MESSAGE_CUT, kept)}
        response = httpx.Response(
            500, json=body, headers={"x-request-id": across(REQUEST_ID_CUT, kept)}, request=request
        )
        error = errors.from_response(response, errors.Target("get", "demo", "svc"), None)
        assert fragments(f"{error} {error!r} {error.args} {error.as_dict()} {error.hint}") == []
        assert len(error.message) <= MESSAGE_CUT
        assert error.request_id is not None
        assert len(error.request_id) <= REQUEST_ID_CUT


@pytest.mark.parametrize(
    "text",
    [
        SENT,
        LONG_TOKEN,
        f"bad {LONG_TOKEN[3:30]} here",  # a piece of the token, cut by the API itself
        f"{LONG_TOKEN[:FRAGMENT]}-{LONG_TOKEN[-FRAGMENT:]}",
        LONG_TOKEN[5:] + LONG_TOKEN + LONG_TOKEN[:20],  # overlapping pieces
    ],
)
def test_redact_leaves_no_run_of_the_secret(text: str) -> None:
    redacted = errors.redact(text, errors.credentials(SENT), MESSAGE_CUT)
    assert fragments(redacted) == []
    assert "[redacted]" in redacted


def test_redact_keeps_short_tokens_and_ordinary_text() -> None:
    text = "The sandbox is a sandbox; its token is sandbox."
    assert errors.credentials("Token sandbox") == ["Token sandbox"]
    assert errors.redact(text, errors.credentials("Token sandbox"), MESSAGE_CUT) == text
    assert errors.redact(f"bad {LONG_TOKEN[: FRAGMENT - 1]} here", errors.credentials(SENT), MESSAGE_CUT).endswith(
        " here"
    )


@pytest.fixture
def echoing_fake() -> Iterator[FakeApi]:
    api = FakeApi().start()
    yield api
    api.stop()


def echo_reply(status: int, kept: int) -> Reply:
    headers = (("x-request-id", across(REQUEST_ID_CUT, kept)),)
    return json_reply(status, {"error": across(MESSAGE_CUT, kept)}, headers=headers)


@pytest.mark.parametrize("kept", KEPT)
def test_no_token_fragment_in_check_output(
    echoing_fake: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], kept: int
) -> None:
    settings = long_token(fault_settings(echoing_fake.url, tmp_path / "audit.jsonl"))
    echoing_fake.script("GET", "/status", echo_reply(400, kept))
    assert run_check(settings) == 1
    echoing_fake.script("GET", "/status", json_reply(200, {"status": across(MESSAGE_CUT, kept)}))
    echoing_fake.script("GET", "/projects/demo/services", echo_reply(500, kept))
    assert run_check(settings) == 1
    assert all(r.headers["authorization"] == SENT for r in echoing_fake.requests), "the long token was sent"
    out = capsys.readouterr()
    assert "FAIL listing services" in out.out
    assert fragments(out.out + out.err) == []


# --- 2. one audit record, one line ----------------------------------------------------------------


def test_line_breaks_include_the_unicode_ones() -> None:
    assert set("\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e\n\r") <= set(LINE_BREAKS)


def test_audit_record_is_one_line_for_every_reader(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    records: list[dict[str, Any]] = [
        {"service": f"a{LINE_BREAKS}b", "payload": {"description": f"x{LINE_BREAKS}y", "labels": {LINE_BREAKS: "z"}}},
        {"service": "plain", "reason": "\u2028", "payload": ["\x85", "é ü 漢"]},
    ]
    for fields in records:
        log.record(**fields)
    log.close()
    lines = (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(records)
    for line, fields in zip(lines, records, strict=True):
        parsed = json.loads(line)
        assert {k: parsed[k] for k in fields} == fields
    assert all(line.isascii() for line in lines), "no raw invisible character can land in the file (issue 18)"
    assert "\\u00e9 \\u00fc \\u6f22" in lines[1], "non-ASCII text is escaped, and any JSON reader restores it"


async def test_audit_line_of_a_tool_call_with_line_breaks_in_the_description(
    settings: Settings, wire: RecordingTransport
) -> None:
    description = f"one{LINE_BREAKS}two"
    async with session(settings, wire) as client:
        result = await client.call_tool("services_create", {"data": {**SERVICE, "description": description}})
    assert not result.is_error
    lines = settings.audit_log_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["payload"]["description"] == description


# --- 3. gzip bomb ---------------------------------------------------------------------------------

MiB = 1024 * 1024


def gzip_bomb(mib: int) -> bytes:
    """A valid gzip body of `mib` MiB of zeros, about 1 KB per MiB: one deflate segment repeated, built quickly."""
    zeros = bytes(MiB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)  # self-contained: it can be repeated
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + segment * mib + deflate.flush() + struct.pack("<II", crc, (mib * MiB) & 0xFFFFFFFF)


def test_the_bomb_is_valid_gzip() -> None:
    assert gzip.decompress(gzip_bomb(3)) == bytes(3 * MiB)


class Body(httpx.AsyncByteStream):
    """A body streamed as it is, so that nothing decodes it before the client reads it."""

    def __init__(self, data: bytes, chunk: int = 4 * MiB) -> None:
        self._data = data
        self._chunk = chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), self._chunk):
            yield self._data[start : start + self._chunk]


def answering(status: int, body: bytes, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": "application/json", **headers}, stream=Body(body))

    return handler


def api_over(handler: Callable[[httpx.Request], httpx.Response]) -> ServicesApi:
    config = ApiConfig(host="https://api.ubiops.test/v2.1", token=SecretStr(LONG_TOKEN))
    http = build_http_client(config, httpx.MockTransport(handler))
    return ServicesApi(http, RetryPolicy(max_attempts=2, base_delay_s=0.001, max_delay_s=0.001))


async def test_a_gzip_bomb_is_refused_before_it_is_expanded() -> None:
    bomb = gzip_bomb(1024)  # 1 GiB once expanded, about 1 MB on the wire
    api = api_over(answering(200, bomb, **{"content-encoding": "gzip"}))
    tracemalloc.start()
    try:
        with pytest.raises(errors.ResponseTooLarge) as refused:
            await api.get("demo", "svc")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code == "response_too_large"
    assert peak < 64 * MiB, f"peak memory {peak // MiB} MiB while refusing a gzip bomb"


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", bytes), ("", bytes), ("GZip", gzip.compress)],
)
async def test_compressed_answers_are_still_read(encoding: str, encode: Callable[[bytes], bytes]) -> None:
    body = encode(json.dumps(DETAIL).encode())
    api = api_over(answering(200, body, **{"content-encoding": encoding}))
    assert (await api.get("demo", "svc")).name == "svc"


async def test_a_compressed_answer_just_under_the_cap_is_read() -> None:
    from ubiops_services_mcp.api.responses import MAX_BODY_BYTES

    padded = json.dumps({**DETAIL, "description": " " * 10}).encode()
    padded += b" " * (MAX_BODY_BYTES - len(padded))
    api = api_over(answering(200, gzip.compress(padded), **{"content-encoding": "gzip"}))
    assert (await api.get("demo", "svc")).name == "svc"
    api = api_over(answering(200, gzip.compress(padded + b" "), **{"content-encoding": "gzip"}))
    with pytest.raises(errors.ResponseTooLarge):
        await api.get("demo", "svc")


# --- 4. unreadable bodies become typed errors -----------------------------------------------------

DEEP = b"[" * 200_000 + b"]" * 200_000


async def call(api: ServicesApi, method: str) -> object:
    if method == "GET":
        return await api.get("demo", "svc")
    return await api.update("demo", "svc", ServiceUpdate.model_validate({"port": 9090}))


UNREADABLE = {
    "not-gzip": (200, b"this is not gzip at all", {"content-encoding": "gzip"}),
    "truncated-gzip": (200, gzip.compress(json.dumps(DETAIL).encode())[:-20], {"content-encoding": "gzip"}),
    "not-deflate": (200, b"nor deflate", {"content-encoding": "deflate"}),
    "unknown-encoding": (200, json.dumps(DETAIL).encode(), {"content-encoding": "br"}),
    "deep-json": (200, DEEP, {}),
    "deep-gzipped-json": (200, gzip.compress(DEEP), {"content-encoding": "gzip"}),
    "error-not-gzip": (500, b"not gzip", {"content-encoding": "gzip"}),
}


def client_error(error: errors.ApiError) -> BaseException | None:
    """The error the client raised; a mutation's may come wrapped in OutcomeUnknown, since the change may be applied."""
    return error.__cause__ if isinstance(error, errors.OutcomeUnknown) else error


@pytest.mark.parametrize("method", ["GET", "PATCH"])
@pytest.mark.parametrize("case", UNREADABLE)
async def test_an_unreadable_answer_is_an_invalid_response(method: str, case: str) -> None:
    status, body, headers = UNREADABLE[case]
    api = api_over(answering(status, body, **headers))
    with pytest.raises(errors.ApiError) as raised:
        await call(api, method)
    invalid = client_error(raised.value)
    assert isinstance(invalid, errors.InvalidResponse)
    assert type(invalid) is errors.InvalidResponse
    assert invalid.code == "invalid_response"
    assert invalid.target is not None
    assert invalid.message.isprintable()
    assert len(invalid.message) < 200


async def test_requests_accept_only_the_encodings_the_client_decodes_itself() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["accept-encoding"])
        return httpx.Response(200, json=DETAIL)

    api = api_over(handler)
    await call(api, "GET")
    await call(api, "PATCH")
    assert seen == ["gzip, deflate", "gzip, deflate"]


@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_an_error_answer_with_deep_json_keeps_its_status(method: str) -> None:
    api = api_over(answering(400, DEEP))
    with pytest.raises(errors.BadRequest) as refused:
        await call(api, method)
    assert refused.value.status == 400
