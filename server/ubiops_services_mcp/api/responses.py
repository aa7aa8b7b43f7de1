"""Reading the API's answers: a capped body, JSON only, validated against the contract's models."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from . import errors
from .errors import Target
from .models import ApiStatus, ServiceDetail, ServiceList, ServiceStatus

MAX_BODY_BYTES: Final = 8 * 1024 * 1024
_SERVICE_LIST = TypeAdapter(list[ServiceList])
_M = TypeVar("_M", ServiceDetail, ServiceStatus, ApiStatus)
_T = TypeVar("_T")


class BodyTooLarge(Exception):
    pass


async def read_capped(response: httpx.Response) -> None:
    """Read the body, refusing one past MAX_BODY_BYTES so a runaway answer cannot eat memory."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    response._content = b"".join(chunks)  # pyright: ignore[reportPrivateUsage]


def json_body(response: httpx.Response, target: Target) -> Any:
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type:
        raise errors.InvalidResponse(
            f"The API answered with {content_type or 'no content type'}, not JSON.",
            status=response.status_code,
            target=target,
        )
    try:
        return json.loads(response.content)
    except ValueError:
        raise errors.InvalidResponse(
            "The API's answer is not valid JSON.", status=response.status_code, target=target
        ) from None


def parse(response: httpx.Response, model: type[_M], target: Target) -> _M:
    return _validated(response, target, model.model_validate, model.__name__)


def parse_list(response: httpx.Response, target: Target) -> list[ServiceList]:
    return _validated(response, target, _SERVICE_LIST.validate_python, "a list of ServiceList")


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
