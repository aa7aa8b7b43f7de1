"""Async client of the UbiOps Services API over one shared httpx.AsyncClient (no MCP here)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn
from urllib.parse import quote

import anyio
import httpx
from pydantic import SecretStr

from .. import __version__
from . import errors
from .auth import TokenAuth
from .errors import ApiError, Target
from .models import (
    ApiStatus,
    Deployment,
    DeploymentVersion,
    ServiceCreate,
    ServiceDetail,
    ServiceList,
    ServiceStatus,
    ServiceUpdate,
)
from .observer import NoObserver, NoProgress, Progress, RequestObserver
from .responses import MAX_BODY_BYTES, BodyTooLarge, parse, parse_items, parse_list, read_capped
from .retry import DEFAULT_TIMEOUT_S, RetryPolicy, retry_after_s

logger = logging.getLogger(__name__)

DEFAULT_HOST: Final = "https://api.ubiops.com/v2.1"
USER_AGENT: Final = f"ubiops-services-mcp/{__version__} (+https://pypi.org/project/ubiops-services-mcp)"
# A service's whole configuration is a few kilobytes; a body far past that is a mistake or an attack.
MAX_REQUEST_BYTES: Final = 64 * 1024
# A gateway that failed or timed out may have forwarded the request: a POST's outcome is then unknown.
_GATEWAY_FAILURES: Final = (502, 504)


@dataclass(frozen=True)
class ApiConfig:
    """Where the API is and how to talk to it; frozen so nothing changes it mid-flight."""

    host: str = DEFAULT_HOST
    token: SecretStr | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def base_url(self) -> str:
        return self.host.rstrip("/") + "/"


def build_http_client(config: ApiConfig, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The one AsyncClient of the process: pooled connections, our headers, our timeouts."""
    return httpx.AsyncClient(
        base_url=config.base_url,
        auth=TokenAuth(config.token) if config.token is not None else None,
        headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        timeout=httpx.Timeout(config.timeout_s, connect=min(config.timeout_s, 10.0)),
        transport=transport,
        follow_redirects=False,
    )


def segment(value: str) -> str:
    """One path segment, percent-encoded with nothing kept safe (dots too, so '..' stays a name)."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def services_path(project: str, service: str | None = None, *rest: str) -> str:
    parts = ["projects", segment(project), "services"]
    if service is not None:
        parts.append(segment(service))
    return "/".join([*parts, *rest])


def deployments_path(project: str, deployment: str | None = None, *rest: str) -> str:
    parts = ["projects", segment(project), "deployments"]
    if deployment is not None:
        parts.append(segment(deployment))
    return "/".join([*parts, *(segment(part) for part in rest)])


@dataclass(frozen=True)
class Created:
    """A create's result; `settled` says it was confirmed by a GET after an unknown outcome."""

    service: ServiceDetail
    settled: bool = False


class ServicesApi:
    """The five documented operations, the status endpoints, deployment reads, and bounded retries."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
        observer: RequestObserver | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._http = http
        self._retry = retry or RetryPolicy()
        self._observer = observer or NoObserver()
        self.progress: Progress = progress or NoProgress()

    def reporting(self, progress: Progress) -> ServicesApi:
        """The same client (same connections, policy and observer) telling one call's waiting client its progress."""
        return ServicesApi(self._http, self._retry, self._observer, progress)

    async def create(self, project: str, data: ServiceCreate) -> Created:
        """POST once; if the outcome is unknown, settle it with a GET instead of posting again."""
        target = Target("create", project, data.name)
        body = data.to_body()
        try:
            response = await self._send("POST", services_path(project), target, json_body=body, idempotent=False)
            return Created(parse(response, ServiceDetail, target))
        except Exception as failure:  # whatever went wrong after sending, the service may exist now
            unknown = _unknown_after_send(failure, target)
            if unknown is None:
                raise
            return Created(await self._settle_create(project, body, unknown), settled=True)

    async def get(self, project: str, service: str) -> ServiceDetail:
        target = Target("get", project, service)
        return parse(await self._send("GET", services_path(project, service), target), ServiceDetail, target)

    async def list(
        self, project: str, labels: str | None = None, deployment_version_ids: str | None = None
    ) -> list[ServiceList]:
        target = Target("list", project)
        params = {"labels": labels, "deployment_version_ids": deployment_version_ids}
        query = {key: value for key, value in params.items() if value is not None}
        response = await self._send("GET", services_path(project), target, params=query)
        return parse_list(response, target)

    async def update(self, project: str, service: str, data: ServiceUpdate) -> ServiceDetail:
        """PATCH; a rename whose retry gets 404 was applied by an earlier attempt: read it under its new name."""
        target = Target("update", project, service)
        body = data.to_body()
        try:
            response = await self._send("PATCH", services_path(project, service), target, json_body=body)
            return parse(response, ServiceDetail, target)
        except errors.NotFound as gone:
            renamed = body.get("name")
            if gone.attempts == 1 or not isinstance(renamed, str) or renamed == service:
                raise
            found = await self.get(project, renamed)
            if not _matches(found, body):
                raise
            return found
        except Exception as failure:
            _raise_as_sent(failure, target)

    async def delete(self, project: str, service: str) -> None:
        """DELETE; a 404 on a retry means an earlier attempt, whose answer was lost, deleted it."""
        target = Target("delete", project, service)
        try:
            await self._send("DELETE", services_path(project, service), target)
        except errors.NotFound as gone:
            if gone.attempts == 1:
                raise
        except Exception as failure:
            _raise_as_sent(failure, target)

    async def get_many(self, project: str, names: Sequence[str], at_once: int = 8) -> list[ServiceDetail | None]:
        """Several services, at most `at_once` GETs in flight; None for a service that does not exist.

        Any other failure stops the reads still running and is raised: a caller must not mistake a partial
        answer for a complete one.
        """
        found: list[ServiceDetail | None] = [None] * len(names)
        failures: list[ApiError] = []
        pending = iter(enumerate(names))  # shared by the workers: each name is taken once

        read = [0]

        async def worker(scope: anyio.CancelScope) -> None:
            for index, name in pending:
                try:
                    found[index] = await self.get(project, name)
                except errors.NotFound:
                    pass
                except ApiError as error:
                    failures.append(error)
                    scope.cancel()
                    return
                read[0] += 1
                await self.progress.note(f"read {read[0]} of {len(names)} services")

        async with anyio.create_task_group() as group:
            for _ in range(min(at_once, len(names))):
                group.start_soon(worker, group.cancel_scope)
        if failures:
            raise failures[0]
        return found

    async def status(self, project: str, service: str) -> ServiceStatus:
        target = Target("status", project, service)
        response = await self._send("GET", services_path(project, service, "status"), target)
        return parse(response, ServiceStatus, target)

    async def deployments(self, project: str) -> list[Deployment]:
        """The project's deployments; this endpoint leaves out each one's default version."""
        target = Target("deployments_list", project)
        return parse_items(await self._send("GET", deployments_path(project), target), Deployment, target)

    async def deployment(self, project: str, deployment: str) -> Deployment:
        target = Target("deployments_get", project)
        response = await self._send("GET", deployments_path(project, deployment), target)
        return parse(response, Deployment, target)

    async def versions(self, project: str, deployment: str) -> list[DeploymentVersion]:
        """A deployment's versions, each with its `default` flag, status and instance bounds."""
        target = Target("versions_list", project)
        response = await self._send("GET", deployments_path(project, deployment, "versions"), target)
        return parse_items(response, DeploymentVersion, target)

    async def version(self, project: str, deployment: str, version: str) -> DeploymentVersion:
        target = Target("versions_get", project)
        response = await self._send("GET", deployments_path(project, deployment, "versions", version), target)
        return parse(response, DeploymentVersion, target)

    async def api_status(self) -> ApiStatus:
        target = Target("api_status", "")
        return parse(await self._send("GET", "status", target), ApiStatus, target)

    async def _settle_create(self, project: str, body: dict[str, Any], unknown: errors.OutcomeUnknown) -> ServiceDetail:
        name = str(body["name"])
        try:
            found = await self.get(project, name)
        except errors.NotFound:
            raise errors.NotCreated(
                "The create request got no answer and the service does not exist now: it was not created. "
                "It is safe to call services_create again.",
                status=unknown.status,
                target=unknown.target,
                attempts=unknown.attempts,
            ) from None
        except errors.ApiError as failed:
            raise errors.OutcomeUnknown(
                f"The create request got no answer, and reading {name!r} back failed too ({failed.code}): "
                "it may or may not exist. Check with services_get before calling services_create again.",
                status=unknown.status,
                target=unknown.target,
                attempts=unknown.attempts,
            ) from None
        if not _matches(found, body):
            raise errors.OutcomeUnknown(
                f"The create request got no answer; a service {name!r} exists now but differs from the request. "
                "Compare it with services_get before doing anything else.",
                target=unknown.target,
                attempts=unknown.attempts,
            )
        return found

    async def _send(
        self,
        method: str,
        path: str,
        target: Target,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """One logical request: retried within the policy's bounds when that is safe."""
        content = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        if content is not None and len(content) > MAX_REQUEST_BYTES:
            raise errors.RequestTooLarge(
                f"The request body would be {len(content)} bytes; the limit is {MAX_REQUEST_BYTES}. Nothing was sent.",
                target=target,
            )
        policy = self._retry
        deadline = time.monotonic() + policy.total_s
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            outcome = await self._attempt(method, path, target, params, content, idempotent, deadline)
            self._observer.attempted(method, _status_label(outcome), time.perf_counter() - started)
            if isinstance(outcome, httpx.Response):
                return outcome
            error = outcome
            error.attempts = attempt
            delay = policy.delay(attempt, error.retry_after_s)
            retry = _may_retry(error, idempotent) and attempt < policy.max_attempts
            if not retry or time.monotonic() + delay >= deadline:
                raise error  # a wait the budget cannot cover ends the call now, the wait reported (retry_after_s)
            self._observer.retrying(method, error.code)
            await self.progress.note(
                f"{target.operation}: {error.code}; attempt {attempt + 1} of {policy.max_attempts} in {delay:.1f} s"
            )
            await anyio.sleep(delay)

    async def _attempt(
        self,
        method: str,
        path: str,
        target: Target,
        params: dict[str, str] | None,
        content: bytes | None,
        idempotent: bool,
        deadline: float,
    ) -> httpx.Response | ApiError:
        """One HTTP exchange; returns the successful response or the error it became."""
        # Only what read_capped decodes and caps itself; httpx would also offer br or zstd when they are installed.
        headers = {"Accept-Encoding": "gzip, deflate"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        request = self._http.build_request(method, path, params=params, content=content, headers=headers)
        try:
            with anyio.fail_after(max(deadline - time.monotonic(), 0.001)):
                response = await self._http.send(request, stream=True)
                try:
                    await read_capped(response, target)
                finally:
                    await response.aclose()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return errors.Unreachable(f"Could not connect to the API: {type(exc).__name__}", target=target)
        except (httpx.TimeoutException, TimeoutError, httpx.TransportError) as exc:
            if not idempotent:
                return errors.OutcomeUnknown(
                    f"The request was sent but no answer came ({type(exc).__name__}).", target=target
                )
            if isinstance(exc, httpx.TimeoutException | TimeoutError):
                return errors.TimedOut("The API did not answer in time.", target=target)
            return errors.Unreachable(f"The connection failed: {type(exc).__name__}", target=target)
        except BodyTooLarge:
            return errors.ResponseTooLarge(
                f"The API's answer was larger than the {MAX_BODY_BYTES // (1024 * 1024)} MiB limit.", target=target
            )
        except errors.InvalidResponse as unreadable:  # a body that cannot be decoded
            return unreadable
        if response.is_success:
            return response
        failure = errors.from_response(response, target, retry_after_s(response))
        if not idempotent and response.status_code in _GATEWAY_FAILURES:
            return errors.OutcomeUnknown(
                f"A gateway answered {response.status_code}: the request may or may not have reached the API.",
                status=failure.status,
                target=target,
                request_id=failure.request_id,
            )
        return failure


def _status_label(outcome: httpx.Response | ApiError) -> str:
    """The HTTP status of an attempt, or the failure's code when no answer came (for metrics)."""
    if isinstance(outcome, httpx.Response):
        return str(outcome.status_code)
    return str(outcome.status) if outcome.status is not None else outcome.code


def _unknown_after_send(failure: Exception, target: Target) -> errors.OutcomeUnknown | None:
    """None for a definite refusal (nothing was applied); otherwise the failure as what it means to the caller:
    no answer, an unreadable answer or a bug while reading it all leave the change possibly applied."""
    if isinstance(failure, errors.OutcomeUnknown):
        return failure
    if isinstance(failure, ApiError) and not isinstance(failure, errors.InvalidResponse):
        return None
    if isinstance(failure, ApiError):
        reason, status = f"its answer could not be read ({failure.code})", failure.status
    else:
        logger.exception("reading the answer to a %s request failed", target.operation)
        reason, status = f"reading its answer failed ({type(failure).__name__})", None
    return errors.OutcomeUnknown(f"The request was sent but {reason}.", status=status, target=target)


def _raise_as_sent(failure: Exception, target: Target) -> NoReturn:
    unknown = _unknown_after_send(failure, target)
    if unknown is None:
        raise failure
    raise unknown from failure


def _may_retry(error: ApiError, idempotent: bool) -> bool:
    """GET, PATCH and DELETE retry every transient failure; POST only what was surely not applied."""
    if idempotent:
        return error.retryable
    return isinstance(error, errors.Unreachable | errors.RateLimited)


def _matches(found: ServiceDetail, body: dict[str, Any]) -> bool:
    """Whether the service found holds every value the create request asked for."""
    current = found.model_dump(mode="json")
    # health_check is left out: the API fills in defaults (interval, threshold) the request did not give.
    return all(current.get(key) == value for key, value in body.items() if key != "health_check")
