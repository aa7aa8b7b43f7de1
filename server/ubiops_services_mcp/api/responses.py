"""Reading the API's answers: a capped body, JSON only, validated against the contract's models."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any, Final, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from . import errors
from .errors import Target
from .models import ApiStatus, Deployment, DeploymentVersion, ServiceDetail, ServiceList, ServiceStatus

MAX_BODY_BYTES: Final = 8 * 1024 * 1024
# The content encodings read_capped decodes itself, counting decoded bytes as they come (requests accept only these).
_ZLIB_WBITS: Final = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_SERVICE_LIST = TypeAdapter(list[ServiceList])
_M = TypeVar("_M", ServiceDetail, ServiceStatus, ApiStatus, Deployment, DeploymentVersion)
_T = TypeVar("_T")
# Decodes the next bytes of a body, given room for at most that many more decoded bytes.
_Decode = Callable[[bytes, int], bytes]


class BodyTooLarge(Exception):
    pass


async def read_capped(response: httpx.Response, target: Target) -> None:
    """Read the body, capped on the wire and once decoded, so neither a runaway answer nor a gzip bomb eats memory."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    if response.is_stream_consumed:  # built whole in memory (a test's transport): httpx has read and decoded it
        body = response.content
    else:
        body = await _read_decoded(response, _decoder(response, target))
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge
    response._content = body  # pyright: ignore[reportPrivateUsage]


async def _read_decoded(response: httpx.Response, decode: _Decode) -> bytes:
    """The body decoded piece by piece as it arrives, given up as soon as either count passes the cap."""
    chunks: list[bytes] = []
    received = size = 0
    async for raw in response.aiter_raw():
        received += len(raw)
        if received > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunk = decode(raw, MAX_BODY_BYTES - size)
        size += len(chunk)
        chunks.append(chunk)
    return b"".join(chunks)


def _decoder(response: httpx.Response, target: Target) -> _Decode:
    """The decoder for the body's Content-Encoding; one we did not ask for is refused rather than guessed at."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return _identity
    if encoding not in _ZLIB_WBITS:
        shown = errors.scrubbed(response, encoding, 40)
        raise _unreadable(response, target, f"The API answered in an unsupported content encoding {shown!r}.")
    return _inflater(encoding, response, target)


def _identity(data: bytes, room: int) -> bytes:
    """Undecoded bytes: read_capped's count of bytes received already caps them."""
    return data


def _inflater(encoding: str, response: httpx.Response, target: Target) -> _Decode:
    """gzip or deflate decompressed piece by piece, never past the room left: a bomb stops at the cap."""
    inflater = zlib.decompressobj(_ZLIB_WBITS[encoding])

    def decode(data: bytes, room: int) -> bytes:
        try:
            decoded = inflater.decompress(data, room + 1)
        except zlib.error:
            raise _unreadable(response, target, f"The API's answer is not valid {encoding} data.") from None
        if len(decoded) > room:
            raise BodyTooLarge
        return decoded

    return decode


def _unreadable(response: httpx.Response, target: Target, message: str) -> errors.InvalidResponse:
    """The answer is the API's fault: a typed error the caller can act on, never a raw decoding exception."""
    return errors.InvalidResponse(message, status=response.status_code, target=target)


def json_body(response: httpx.Response, target: Target) -> Any:
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type:
        shown = errors.scrubbed(response, content_type, 100) or "no content type"
        raise _unreadable(response, target, f"The API answered with {shown}, not JSON.")
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise _unreadable(response, target, "The API's answer is not valid JSON.") from None


def parse(response: httpx.Response, model: type[_M], target: Target) -> _M:
    return _validated(response, target, model.model_validate, model.__name__)


def parse_list(response: httpx.Response, target: Target) -> list[ServiceList]:
    return _validated(response, target, _SERVICE_LIST.validate_python, "a list of ServiceList")


def parse_items(response: httpx.Response, model: type[_M], target: Target) -> list[_M]:
    """A JSON list of `model` objects (deployments, versions)."""
    adapter: TypeAdapter[list[_M]] = TypeAdapter(list[model])  # pyright: ignore[reportInvalidTypeForm]
    return _validated(response, target, adapter.validate_python, f"a list of {model.__name__}")


def _validated(response: httpx.Response, target: Target, validate: Callable[[Any], _T], what: str) -> _T:
    """The JSON body checked against the contract; a mismatch is the API's fault, reported without its data."""
    try:
        return validate(json_body(response, target))
    except ValidationError as exc:
        raise errors.InvalidResponse(
            f"The API's answer does not match {what}: {exc.error_count()} problem(s).",
            status=response.status_code,
            target=target,
        ) from None
