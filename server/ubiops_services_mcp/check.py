"""`ubiops-services-mcp check`: the first thing to run when the assistant says "it doesn't work"."""

from __future__ import annotations

import anyio

from .api import errors
from .api.client import ServicesApi
from .app import http_client
from .oauth.config import check_oauth
from .oauth.keys import IssuerKeys, KeysUnavailable
from .settings import Settings

STATUS_CHARS = 200


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
        print(f"FAIL oauth: {problem}")
        return 1
    try:
        count = await IssuerKeys(settings.oauth_issuer).load()
    except KeysUnavailable as error:
        print(f"FAIL oauth: {error}")
        return 1
    print(f"ok   oauth: {settings.oauth_issuer} publishes {count} signing key(s); tokens must be for "
          f"{settings.resource_url} with scope {settings.read_scope} or {settings.write_scope}")  # fmt: skip
    return 0


async def _check(settings: Settings) -> int:
    where = "the embedded sandbox" if settings.uses_sandbox else settings.api_host
    print(f"API: {where}")
    async with http_client(settings, None) as http:
        api = ServicesApi(http, settings.api_config().retry)
        try:
            status = await api.api_status()
        except errors.ApiError as error:
            print(f"FAIL host: {where} is unreachable or unhealthy (GET /status: {error}) - {error.hint}")
            return 1
        print(f"ok   host answers: status {_shown(status.status, settings)!r}")
        project = settings.default_project
        if project is None:
            print("FAIL project: no default project; set UBIOPS_PROJECT (or pass project_name in every call)")
            return 1
        try:
            found = await api.list(project)
        except errors.Unauthorized:
            print("FAIL token: the API refused UBIOPS_API_TOKEN; create a new token in the UbiOps web app")
            return 1
        except errors.Forbidden:
            print(f"FAIL token: the token has no permission on project {project!r}")
            return 1
        except errors.NotFound:
            print(f"FAIL project: no project {project!r}, or the token cannot see it; check UBIOPS_PROJECT")
            return 1
        except errors.ApiError as error:
            print(f"FAIL listing services in {project!r}: {error} - {error.hint}")
            return 1
        print(f"ok   token accepted; project {project!r} has {len(found)} service(s)")
    return 0


def _shown(text: str, settings: Settings) -> str:
    """Text from the API as check prints it: short, and without anything of the token in case the API echoes it."""
    token = settings.api_token.get_secret_value() if settings.api_token is not None else ""
    return errors.redact(text, errors.credentials(token), STATUS_CHARS)
