"""Typed errors of the Services API client: each carries what a caller needs to decide what to do next."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Any

import httpx

from ..safe_text import escaped


@dataclass(frozen=True)
class Target:
    """What a request was about, so that a hint can name it."""

    operation: str
    project: str
    service: str | None = None


class ApiError(Exception):
    """A request to the API did not succeed."""

    code = "api_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        target: Target | None = None,
        retry_after_s: float | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.target = target
        self.retry_after_s = retry_after_s
        self.request_id = request_id
        self.attempts = attempts

    @property
    def hint(self) -> str:
        return "Check the arguments against the tool's schema and try again."

    def __str__(self) -> str:
        status = f" ({self.status})" if self.status is not None else ""
        return f"{self.message}{status}"

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable form, for structured tool errors and audit lines."""
        return {
            "code": self.code,
            "status": self.status,
            "message": self.message,
            "retryable": self.retryable,
            "retry_after_s": self.retry_after_s,
            "hint": self.hint,
            "request_id": self.request_id,
            "attempts": self.attempts,
        }


class BadRequest(ApiError):
    code = "invalid_request"

    @property
    def hint(self) -> str:
        return "The API refused the values; correct the field named in the message and try again."


class RequestTooLarge(ApiError):
    """Refused before sending: the arguments make a request body past the client's limit."""

    code = "invalid_arguments"

    @property
    def hint(self) -> str:
        return "Shorten the arguments (labels, descriptions, lists) and call again."


class Unauthorized(ApiError):
    code = "unauthorized"

    @property
    def hint(self) -> str:
        return "The API token was refused: check UBIOPS_API_TOKEN (and UBIOPS_API_HOST)."


class Forbidden(ApiError):
    code = "forbidden"

    @property
    def hint(self) -> str:
        project = self.target.project if self.target else "the project"
        return f"The token lacks permission on {project}: check the token's role in UbiOps."


class NotFound(ApiError):
    code = "not_found"

    @property
    def hint(self) -> str:
        t = self.target
        if t is None:
            return "Check the names used."
        if t.service and t.operation != "create":
            return (
                f"No service {t.service!r} in project {t.project!r} (or no such project); "
                "services_list shows the names."
            )
        return (
            f"Project {t.project!r}, or the deployment or version named in the request, does not exist; "
            "check the names."
        )


class Conflict(ApiError):
    code = "conflict"

    @property
    def hint(self) -> str:
        return "The name is taken: pick another name, or change the existing service with services_update."


class RateLimited(ApiError):
    code = "rate_limited"
    retryable = True

    @property
    def hint(self) -> str:
        wait = duration(self.retry_after_s) if self.retry_after_s is not None else "a while"
        return f"The API is rate limiting; wait {wait} before trying again."


class ServerError(ApiError):
    code = "server_error"

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status in (502, 503, 504)

    @property
    def hint(self) -> str:
        return "The API failed; try again shortly. If it persists, check https://status.ubiops.com."


class Unreachable(ApiError):
    """No response: connection refused, DNS failure, timeout before the request was sent."""

    code = "unreachable"
    retryable = True

    @property
    def hint(self) -> str:
        return "The API could not be reached: check UBIOPS_API_HOST and the network, then try again."


class TimedOut(ApiError):
    """The API did not answer within the timeout."""

    code = "timeout"
    retryable = True

    @property
    def hint(self) -> str:
        return (
            "The API accepted the connection but did not answer in time; try again shortly. If it keeps happening, "
            "the API or a proxy in front of it is hanging: check UBIOPS_API_HOST and the network."
        )


class OutcomeUnknown(ApiError):
    """A request was sent but no answer came: it may or may not have been applied."""

    code = "outcome_unknown"

    @property
    def hint(self) -> str:
        return "The request may have been applied: read the service with services_get before retrying."


class NotCreated(OutcomeUnknown):
    """A create got no answer, and reading the service back shows it was not created."""

    retryable = True

    @property
    def hint(self) -> str:
        return "The service was not created: calling services_create again is safe."


class InvalidResponse(ApiError):
    """The API answered with something that is not the documented shape."""

    code = "invalid_response"
    retryable = True

    @property
    def hint(self) -> str:
        return "The API answered with an unexpected body; try again, and check UBIOPS_API_HOST."


class ResponseTooLarge(InvalidResponse):
    """The answer was larger than the client's cap: asking again would get the same answer."""

    code = "response_too_large"
    retryable = False

    @property
    def hint(self) -> str:
        return "The API's answer was too large to read; ask for less (services_list filters) or check UBIOPS_API_HOST."


def duration(seconds: float) -> str:
    """A wait as a person reads it: seconds, minutes, hours or days (an API may ask for any of them)."""
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * size:
            count = seconds / size
            return f"{count:.0f} {unit}" if count < 1e6 else f"{count:.2g} {unit}"
    return f"{seconds:g} s"


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: BadRequest,
    429: RateLimited,
}


MESSAGE_CHARS = 1000
REQUEST_ID_CHARS = 200


def error_message(response: httpx.Response) -> str:
    """The API's own message: `error`, else `error_message`, else the reason phrase (uncut, unredacted)."""
    try:
        body = response.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser goes
        body = None
    if isinstance(body, dict):
        for key in ("error", "error_message", "detail"):
            value = body.get(key)  # type: ignore[union-attr]
            if isinstance(value, str) and value:
                return value
    return response.reason_phrase or "HTTP error"


def from_response(response: httpx.Response, target: Target, retry_after_s: float | None) -> ApiError:
    """The typed error for a non-2xx response; anything the API echoes of our credentials is redacted."""
    status = response.status_code
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    request_id = response.headers.get("x-request-id")
    return cls(
        scrubbed(response, error_message(response), MESSAGE_CHARS),
        status=status,
        target=target,
        retry_after_s=retry_after_s,
        request_id=None if request_id is None else scrubbed(response, request_id, REQUEST_ID_CHARS),
    )


MIN_SECRET_CHARS = 12  # shorter values (the sandbox's "sandbox") would redact ordinary words
REDACTED = "[redacted]"


def scrubbed(response: httpx.Response, text: str, limit: int) -> str:
    """Text the API sent, cut to `limit` characters and redacted of the credentials its request carried."""
    return redact(text, _credentials_sent(response), limit)


def _credentials_sent(response: httpx.Response) -> list[str]:
    """The credentials of the request `response` answers."""
    try:
        return credentials(response.request.headers.get("authorization", ""))
    except RuntimeError:  # a response built without a request
        return []


def credentials(authorization: str) -> list[str]:
    """An Authorization value and its token without the scheme, longest first; too short ones are left out."""
    value = authorization.strip()
    candidates = {value, value.partition(" ")[2].strip()}
    return sorted((c for c in candidates if len(c) >= MIN_SECRET_CHARS), key=len, reverse=True)


def redact(text: str, secrets: list[str], limit: int) -> str:
    """`text` cut to `limit`, with no run of MIN_SECRET_CHARS of a secret left: no echo, whole or cut, leaks a part;
    and hidden characters escaped (safe_text): what the API echoes may be text people wrote."""
    for secret in secrets:  # whole echoes first, so that our cut cannot split one into a fragment
        text = text.replace(secret, REDACTED)
    return escaped(_hide_runs(text[:limit], secrets))


def _hide_runs(text: str, secrets: list[str]) -> str:
    """`text` with each stretch covered by runs of a secret's characters replaced by one REDACTED."""
    covered = _covered(text, secrets)
    stretches = groupby(range(len(text)), key=covered.__getitem__)
    return "".join(REDACTED if hidden else "".join(text[i] for i in at) for hidden, at in stretches)


def _covered(text: str, secrets: list[str]) -> list[bool]:
    """For each character of `text`: whether it is part of a run of MIN_SECRET_CHARS characters of a secret."""
    covered = [False] * len(text)
    windows = {s[i : i + MIN_SECRET_CHARS] for s in secrets for i in range(len(s) - MIN_SECRET_CHARS + 1)}
    for window in windows:
        at = text.find(window)
        while at != -1:
            covered[at : at + MIN_SECRET_CHARS] = [True] * MIN_SECRET_CHARS
            at = text.find(window, at + 1)
    return covered
