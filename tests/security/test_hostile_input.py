"""Hostile arguments: any JSON value gives a validation error or a correct request, never an internal error.

Names built to escape their path segment (`../x`, `a/b`, `%2e%2e`, `a?b=c`, `a#b`, control characters,
10,000 characters) either reach the API as exactly one percent-encoded segment or are refused before any
request. One MCP session (on a portal thread) serves every example, so hundreds of examples stay fast.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult
from pydantic import SecretStr

from tests.conftest import HOST, TOKEN, RecordingTransport
from ubiops_services_mcp.app import create_server
from ubiops_services_mcp.settings import Settings

PARAMETERS = {
    "services_create": ("data", "project_name"),
    "services_get": ("service_name", "project_name"),
    "services_list": ("project_name", "labels", "deployment_version_ids", "fields", "limit"),
    "services_update": ("service_name", "data", "project_name", "confirm", "confirmation_token"),
    "services_delete": ("service_name", "project_name", "confirm", "confirmation_token"),
    "services_status": ("service_name", "project_name"),
}
HOSTILE_NAMES = [
    "../x", "..", ".", "...", "a/b", "/", "%2e%2e", "%2E%2E%2Fx", "a%2Fb", "a?b=c", "a#b", "a;b", "a\\b",
    "x\x00y", "\n", "a\tb", "\x7f", "\u202eevil", "ä/ö", " ", "%", "a b", "x" * 10_000, "x" * 65, "x" * 64,
]  # fmt: skip
SEGMENT = re.compile(r"^(?:[A-Za-z0-9_.~-]|%[0-9A-F]{2})+$")
INTERNAL = "Error executing tool"

names = st.sampled_from(HOSTILE_NAMES) | st.text(max_size=80)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | names
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4), max_leaves=12
)
service_data = st.fixed_dictionaries(
    {"name": names, "deployment": names, "port": st.integers(min_value=-5, max_value=70_000)},
    optional={
        "version": names | st.none(),
        "labels": st.dictionaries(names, names, max_size=3),
        "description": names,
        "health_check": st.fixed_dictionaries({"path": names}),
        "request_logging_excluded_paths": names,
    },
)


def well_typed(tool: str) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments of the right shapes whose names are hostile: these get furthest, to the wire."""
    args: dict[str, st.SearchStrategy[Any]] = {
        "service_name": names,
        "project_name": names | st.none(),
        "data": service_data,
        "confirm": st.just(True),
        "labels": names | st.dictionaries(names, names, max_size=3),
        "deployment_version_ids": names | st.lists(names, max_size=3),
    }
    params = PARAMETERS[tool]
    required = {k: v for k, v in args.items() if k in params and k in ("service_name", "data")}
    optional = {k: v for k, v in args.items() if k in params and k not in required}
    return st.fixed_dictionaries(required, optional=optional)


def any_json(tool: str) -> st.SearchStrategy[dict[str, Any]]:
    """Any JSON value under the tool's own argument names, and under made-up ones."""
    keys = st.sampled_from(PARAMETERS[tool]) | st.text(max_size=12)
    return st.dictionaries(keys, json_values, max_size=6)


@dataclass
class Served:
    portal: BlockingPortal
    client: Client
    wire: RecordingTransport

    def call(self, tool: str, arguments: dict[str, Any]) -> tuple[CallToolResult, list[Any]]:
        self.wire.clear()
        result = self.portal.call(self.client.call_tool, tool, arguments)
        return result, list(self.wire.requests)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server (sandbox behind a recorder, flag confirmation so PATCH and DELETE are reached) and one client."""
    import httpx

    from ubiops_services_mcp.sandbox import create_app

    settings = Settings(
        api_token=SecretStr(TOKEN),
        api_host=HOST,
        project="demo",
        confirmation="flag",
        elicitation=False,
        audit_log=tmp_path_factory.mktemp("hostile") / "audit.jsonl",
        secret=SecretStr("test-secret"),
        max_attempts=1,
    )
    wire = RecordingTransport(httpx.ASGITransport(app=create_app(":memory:")))
    with start_blocking_portal() as portal:
        client = Client(create_server(settings, wire), mode="legacy")
        with portal.wrap_async_context_manager(client):
            yield Served(portal, client, wire)


def check(tool: str, arguments: dict[str, Any], result: CallToolResult, requests: list[Any]) -> None:
    """The properties every call must have, whatever its arguments."""
    text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
    assert not text.startswith(INTERNAL), f"internal error for {tool} {arguments!r}: {text}"
    if result.is_error:
        assert result.structured_content is not None, text
        error = result.structured_content["error"]
        assert isinstance(error["code"], str)
        assert error["code"] != "api_error", error
        if "problems" in error:
            assert requests == [], "arguments refused by validation send nothing"
        if error["code"] == "invalid_arguments":
            assert all(r.method == "GET" for r in requests), "a refused change is never sent"
    project = arguments.get("project_name") or "demo"
    for request in requests:
        check_path(tool, arguments, project, request)


def check_path(tool: str, arguments: dict[str, Any], project: str, request: Any) -> None:
    """The request's path is exactly the intended one, each name one percent-encoded segment."""
    parts = request.path.split("/")
    assert parts[:3] == ["", "v2.1", "projects"], request.path
    assert len(parts) in (5, 6, 7), request.path
    for segment in parts[3:]:
        assert SEGMENT.match(segment), request.path
        assert segment not in (".", ".."), request.path
    assert unquote(parts[3]) == project
    if parts[4] == "deployments":  # what a create or update points at, and the default version a result names
        assert len(parts) in (5, 7), request.path
        assert len(parts) == 5 or parts[6] == "versions", request.path
        assert request.method == "GET", request.path
        return
    assert parts[4] == "services"
    if len(parts) >= 6:
        assert unquote(parts[5]) == arguments.get("service_name", arguments.get("data", {}).get("name"))
    if len(parts) == 7:
        assert (tool, parts[6]) == ("services_status", "status")
    query = parse_qs(request.query, keep_blank_values=True)
    assert set(query) <= {"labels", "deployment_version_ids"}
    assert all(len(values) == 1 for values in query.values())


HYPOTHESIS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("key", ["\n", " ", "\t "])
def test_a_blank_label_key_is_not_an_internal_error(served: Served, key: str) -> None:
    """Found by the property tests: the label filter was normalised twice and the second pass raised."""
    arguments = {"labels": {key: "v"}}
    result, requests = served.call("services_list", arguments)
    check("services_list", arguments, result, requests)


@pytest.mark.parametrize("tool", list(PARAMETERS))
@HYPOTHESIS
@given(data=st.data())
def test_any_json_arguments(served: Served, tool: str, data: st.DataObject) -> None:
    arguments = data.draw(any_json(tool))
    result, requests = served.call(tool, arguments)
    check(tool, arguments, result, requests)


@pytest.mark.parametrize("tool", list(PARAMETERS))
@HYPOTHESIS
@given(data=st.data())
def test_hostile_names_stay_in_their_segment(served: Served, tool: str, data: st.DataObject) -> None:
    arguments = data.draw(well_typed(tool))
    result, requests = served.call(tool, arguments)
    check(tool, arguments, result, requests)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("tool", ["services_get", "services_status", "services_update", "services_delete"])
def test_each_hostile_name_is_one_segment_or_refused(served: Served, tool: str, name: str) -> None:
    arguments: dict[str, Any] = {"service_name": name, "confirm": True}
    if tool in ("services_get", "services_status"):
        arguments.pop("confirm")
    if tool == "services_update":
        arguments["data"] = {"port": 9090}
    for args in (arguments, {**arguments, "service_name": "svc", "project_name": name}):
        result, requests = served.call(tool, args)
        check(tool, args, result, requests)
        refused = result.is_error and result.structured_content["error"]["code"] == "invalid_arguments"  # type: ignore[index]
        valid = addressable(name)
        assert refused is not valid, (args, result.structured_content)
        if valid:
            assert requests, "a valid name reaches the API"


OVERSIZED = "x" * 10_000

BIG_SERVICE = {"name": "svc", "deployment": "hello-world", "port": 8080}


@pytest.mark.parametrize(
    "field",
    [
        pytest.param({"labels": {f"k{i}": OVERSIZED for i in range(20)}}, id="labels-200KB"),
        pytest.param({"request_logging_excluded_extensions": [OVERSIZED] * 20}, id="extensions-200KB"),
    ],
)
def test_an_oversized_update_never_reaches_the_api_as_a_change(served: Served, field: dict[str, Any]) -> None:
    """Refused by the argument rules, or at worst after the preview's GET: never sent as a PATCH."""
    served.call("services_create", {"data": {**BIG_SERVICE, "name": "big"}})
    arguments = {"service_name": "big", "data": field, "confirm": True}
    result, requests = served.call("services_update", arguments)
    check("services_update", arguments, result, requests)
    assert result.structured_content is not None
    assert result.structured_content["error"]["code"] == "invalid_arguments"
    assert [r.method for r in requests if r.method != "GET"] == []


@pytest.mark.parametrize(
    "field",
    [
        pytest.param({"deployment": OVERSIZED}, id="deployment"),
        pytest.param({"version": OVERSIZED}, id="version"),
        pytest.param({"labels": {"k": OVERSIZED}}, id="label-value"),
        pytest.param({"labels": {OVERSIZED: "v"}}, id="label-key"),
        pytest.param({"request_logging_excluded_extensions": [OVERSIZED]}, id="extension"),
        pytest.param({"description": OVERSIZED}, id="description"),
        pytest.param({"health_check": {"path": "/" + OVERSIZED}}, id="health-path"),
        pytest.param({"request_logging_excluded_paths": OVERSIZED}, id="excluded-paths"),
    ],
)
def test_each_free_text_field_has_a_limit(served: Served, field: dict[str, Any]) -> None:
    arguments = {"data": {**BIG_SERVICE, **field}}
    result, requests = served.call("services_create", arguments)
    check("services_create", arguments, result, requests)
    assert result.structured_content is not None
    assert result.structured_content["error"]["code"] == "invalid_arguments"
    assert requests == []


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("services_get", {"service_name": OVERSIZED}),
        ("services_get", {"service_name": "svc", "project_name": OVERSIZED}),
        ("services_list", {"labels": f"k:{OVERSIZED}"}),
        ("services_list", {"deployment_version_ids": [OVERSIZED]}),
        ("services_list", {"deployment_version_ids": ",".join(["id"] * 2_000)}),
        ("services_list", {"limit": 10**9}),
        ("services_create", {"data": {"name": OVERSIZED, "deployment": "hello-world", "port": 8080}}),
        ("services_create", {"data": {"name": "svc", "deployment": "hello-world", "port": 8080,
                                      "description": OVERSIZED}}),
        ("services_create", {"data": {"name": "svc", "deployment": "hello-world", "port": 8080,
                                      "request_logging_excluded_paths": OVERSIZED}}),
        ("services_update", {"service_name": "svc", "data": {"port": 1}, "confirmation_token": OVERSIZED}),
        ("services_create", {"data": {"name": "svc", "deployment": "hello-world", "port": 8080,
                                      "labels": {f"k{i}": OVERSIZED for i in range(20)}}}),
        ("services_create", {"data": {"name": "svc", "deployment": "hello-world", "port": 8080,
                                      "request_logging_excluded_extensions": [OVERSIZED] * 20}}),
    ],
)  # fmt: skip
def test_oversized_arguments_are_refused_before_any_request(
    served: Served, tool: str, arguments: dict[str, Any]
) -> None:
    result, requests = served.call(tool, arguments)
    check(tool, arguments, result, requests)
    assert result.is_error
    assert result.structured_content is not None
    assert result.structured_content["error"]["code"] == "invalid_arguments"
    assert requests == []


def addressable(name: str) -> bool:
    """What the get/update/delete/status tools accept as a service name."""
    return 1 <= len(name) <= 64 and name not in (".", "..") and not re.search(r"[\x00-\x1f\x7f]", name)


@pytest.mark.parametrize("name", ["..", ".", "a\nb", "\x7f"])
def test_create_refuses_names_the_other_tools_cannot_address(served: Served, name: str) -> None:
    created, requests = served.call("services_create", {"data": {**BIG_SERVICE, "name": name}})
    assert created.is_error
    assert requests == []


@example(name="%2e%2e")
@HYPOTHESIS
@given(name=names)
def test_a_created_name_round_trips_exactly(served: Served, name: str) -> None:
    """Whatever name a create accepts, get, status and delete find exactly that service again."""
    data = {"name": name, "deployment": "hello-world", "port": 8080}
    assume(addressable(name))  # the others: test_create_refuses_names_the_other_tools_cannot_address
    created, _ = served.call("services_create", {"data": data})
    if created.is_error:
        assert created.structured_content is not None
        assert created.structured_content["error"]["code"] in ("invalid_arguments", "conflict")
        return
    for tool in ("services_get", "services_status"):
        found, requests = served.call(tool, {"service_name": name})
        check(tool, {"service_name": name}, found, requests)
        assert not found.is_error, found.structured_content
    deleted, requests = served.call("services_delete", {"service_name": name, "confirm": True})
    check("services_delete", {"service_name": name}, deleted, requests)
    assert not deleted.is_error, deleted.structured_content
    assert [r.method for r in requests if r.path.split("/")[4] == "services"] == ["GET", "DELETE"]
