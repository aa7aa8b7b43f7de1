"""`ubiops-services-mcp check`: the first thing to run when the assistant says "it doesn't work"."""

from __future__ import annotations

from dataclasses import replace

import anyio

from .api import errors
from .api.client import ServicesApi
from .app import http_client
from .hosting.oauth.config import check_oauth
from .hosting.oauth.keys import IssuerKeys, KeysUnavailable
from .settings import Settings

STATUS_CHARS = 200
CHECK_BUDGET_S = 10.0
"""Longest `check` waits for one answer, retries included: a person is watching, and a hang shows in seconds."""


def say(line: str) -> None:
    """One line, shown at once even when stdout is a pipe: a person waiting must see what is being waited for."""
    print(line, flush=True)


def run_check(settings: Settings) -> int:
    """Print one line per check; exit 0 only when all pass."""
    return anyio.run(_check_all, settings)


async def _check_all(settings: Settings) -> int:
    oauth = await _check_oauth(settings)
    return max(oauth, await _check(settings))


async def _check_oauth(settings: Settings) -> int:
    """With OAuth configured: the settings go together and the issuer publishes signing keys."""
    if settings.oauth_issuer is None and settings.resource_url is None:
        return 0
    problem = check_oauth(settings)
    if problem is not None or settings.oauth_issuer is None:
        say(f"FAIL oauth: {problem}")
        return 1
    try:
        count = await IssuerKeys(settings.oauth_issuer).load()
    except KeysUnavailable as error:
        say(f"FAIL oauth: {error}")
        return 1
    say(f"ok   oauth: {settings.oauth_issuer} publishes {count} signing key(s); tokens must be for "
          f"{settings.resource_url} with scope {settings.read_scope} or {settings.write_scope}")  # fmt: skip
    return 0


async def _check(settings: Settings) -> int:
    where = "the embedded sandbox" if settings.uses_sandbox else settings.api_host
    budget = min(settings.retry_budget_s, CHECK_BUDGET_S)
    say(f"API: {where}")
    async with http_client(settings, None) as http:
        api = ServicesApi(http, replace(settings.api_config().retry, total_s=budget))
        say(f"     waiting up to {budget:g} s for GET /status ...")
        try:
            status = await api.api_status()
        except errors.TimedOut:
            say(_hang(where, budget, "GET /status"))
            return 1
        except errors.ApiError as error:
            say(f"FAIL host: {where} is unreachable or unhealthy (GET /status: {error}) - {error.hint}")
            return 1
        say(f"ok   host answers: status {_shown(status.status, settings)!r}")
        project = settings.default_project
        if project is None:
            say("FAIL project: no default project; set UBIOPS_PROJECT (or pass project_name in every call)")
            return 1
        say(f"     waiting up to {budget:g} s for the services of {project!r} ...")
        try:
            found = await api.list(project)
        except errors.Unauthorized:
            say("FAIL token: the API refused UBIOPS_API_TOKEN; create a new token in the UbiOps web app")
            return 1
        except errors.Forbidden:
            say(f"FAIL token: the token has no permission on project {project!r}")
            return 1
        except errors.NotFound:
            say(f"FAIL project: no project {project!r}, or the token cannot see it; check UBIOPS_PROJECT")
            return 1
        except errors.TimedOut:
            say(_hang(where, budget, f"listing services in {project!r}"))
            return 1
        except errors.ApiError as error:
            say(f"FAIL listing services in {project!r}: {error} - {error.hint}")
            return 1
        token = "the sandbox needs no token" if settings.uses_sandbox else "token accepted"
        say(f"ok   {token}; project {project!r} has {len(found)} service(s)")
    return 0


def _hang(where: str, budget: float, what: str) -> str:
    """A hang's advice: the host accepted the connection and went quiet, which a longer timeout does not fix."""
    return (
        f"FAIL host: {where} accepted the connection but did not answer {what} within {budget:g} s. Something "
        "there hangs: check UBIOPS_API_HOST (host and path) and any proxy in between; a longer UBIOPS_TIMEOUT "
        "does not fix a hang."
    )


def _shown(text: str, settings: Settings) -> str:
    """Text from the API as check prints it: short, and without anything of the token in case the API echoes it."""
    token = settings.api_token.get_secret_value() if settings.api_token is not None else ""
    return errors.redact(text, errors.credentials(token), STATUS_CHARS)
