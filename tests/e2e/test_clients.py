"""Clients this project did not write drive the installed console script over stdio, on the sandbox.

The MCP Inspector CLI (one server process per call, so the secret is shared as between replicas) and a
small script on the TypeScript SDK each go through tools/list, create, update (preview, then apply with the
token), delete (preview, then apply), prompts/get and resources/read.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import E2E_DIR, installed_server, node_bin
from ubiops_services_mcp import __version__
from ubiops_services_mcp.settings import ALL_TOOLS

pytestmark = pytest.mark.slow

CALL_TIMEOUT_S = 60
CREATE = {"name": "e2e-inspector", "deployment": "hello-world", "port": 8080, "labels": {"team": "e2e"}}
PROMPTS = ["audit-services", "change-service-safely", "expose-deployment", "troubleshoot-service"]
TEMPLATES = [
    "ubiops://projects/{project_name}/services",
    "ubiops://projects/{project_name}/services/{service_name}",
]


class Inspector:
    """`mcp-inspector --cli` against the installed server, one call per process, JSON out."""

    def __init__(self, modules: Path, env: dict[str, str]) -> None:
        self._bin = node_bin(modules, "mcp-inspector")
        self._env = env
        self._server_env = [f"{key}={env[key]}" for key in sorted(env) if key.startswith("UBIOPS_")]

    def run(self, method: str, *args: str, era: str = "legacy", ok: bool = True) -> Any:
        command = [str(self._bin), "--cli", "--format", "json", "-q", "--protocol-era", era]
        for pair in self._server_env:
            command += ["-e", pair]
        command += [str(installed_server()), "--method", method, *args]
        done = subprocess.run(command, env=self._env, capture_output=True, text=True, timeout=CALL_TIMEOUT_S)
        assert (done.returncode == 0) is ok, f"{method} {args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout)

    def tool(self, name: str, arguments: dict[str, Any], *, ok: bool = True) -> dict[str, Any]:
        """The structured result; `ok=False` expects an isError result (the Inspector exits non-zero)."""
        result = self.run("tools/call", "--tool-name", name, "--tool-args-json", json.dumps(arguments), ok=ok)["result"]
        assert result.get("isError", False) is not ok
        assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
        return result["structuredContent"]


def audit_outcomes(path: Path) -> list[tuple[str, str]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [(line["tool"], line["outcome"]) for line in lines]


EXPECTED_AUDIT = [
    ("services_create", "applied"),
    ("services_update", "preview"),
    ("services_update", "applied"),
    ("services_delete", "preview"),
    ("services_delete", "applied"),
]


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_inspector_lists_the_tools_in_both_protocol_eras(
    node_modules: Path, server_env: dict[str, str], era: str
) -> None:
    listed = Inspector(node_modules, server_env).run("tools/list", era=era)["result"]["tools"]
    assert sorted(tool["name"] for tool in listed) == sorted(ALL_TOOLS)


def test_inspector_create_update_delete_prompt_and_resource(
    node_modules: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    inspector = Inspector(node_modules, server_env)
    created = inspector.tool("services_create", {"data": CREATE})
    assert created["sandbox"] is True
    assert {key: created["service"][key] for key in CREATE} == CREATE

    change = {"service_name": "e2e-inspector", "data": {"port": 9090}}
    preview = inspector.tool("services_update", change)
    assert preview["outcome"] == "preview"
    assert preview["changes"] == [{"field": "port", "current": 8080, "new": 9090}]
    token = preview["confirmation_token"]
    forged = inspector.tool("services_update", {**change, "confirm": True, "confirmation_token": token + "x"}, ok=False)
    assert (forged["outcome"], forged["changes"]) == ("refused", preview["changes"])
    applied = inspector.tool("services_update", {**change, "confirm": True, "confirmation_token": token})
    assert (applied["outcome"], applied["changes"]) == ("applied", [{"field": "port", "before": 8080, "after": 9090}])

    read = inspector.run("resources/read", "--uri", "ubiops://projects/demo/services/e2e-inspector")["result"]
    (content,) = read["contents"]
    assert content["mimeType"] == "application/json"
    assert json.loads(content["text"])["service"]["port"] == 9090

    gone = inspector.tool("services_delete", {"service_name": "e2e-inspector"})
    assert gone["outcome"] == "preview"
    assert gone["service"]["port"] == 9090
    deleted = inspector.tool(
        "services_delete",
        {"service_name": "e2e-inspector", "confirm": True, "confirmation_token": gone["confirmation_token"]},
    )
    assert deleted["outcome"] == "applied"
    assert deleted["recreate_with"]["port"] == 9090
    assert inspector.tool("services_list", {})["services"] == []

    prompt = inspector.run(
        "prompts/get", "--prompt-name", "expose-deployment", "--prompt-args", "deployment=hello-world", "port=8080"
    )["result"]
    text = prompt["messages"][0]["content"]["text"]
    assert '"deployment": "hello-world"' in text
    assert '"port": 8080' in text
    templates = inspector.run("resources/templates/list")["result"]["resourceTemplates"]
    assert sorted(template["uriTemplate"] for template in templates) == TEMPLATES

    outcomes = audit_outcomes(tmp_path / "audit.jsonl")
    assert [entry for entry in outcomes if entry[1] != "refused"] == EXPECTED_AUDIT
    assert ("services_update", "refused") in outcomes


def test_typescript_sdk_client_round_trip(node_modules: Path, server_env: dict[str, str], tmp_path: Path) -> None:
    command = ["node", str(E2E_DIR / "sdk_client.mjs"), str(installed_server())]
    done = subprocess.run(command, env=server_env, capture_output=True, text=True, timeout=CALL_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    assert (report["server"]["name"], report["server"]["version"]) == ("ubiops-services-mcp", __version__)
    assert report["tools"] == sorted(ALL_TOOLS)
    assert not report["create"]["isError"]
    assert report["updatePreview"]["data"]["outcome"] == "preview"
    applied = report["updateApplied"]["data"]
    previewed = report["updatePreview"]["data"]["changes"]
    done = [{"field": c["field"], "before": c["current"], "after": c["new"]} for c in previewed]
    assert (applied["outcome"], applied["changes"]) == ("applied", done)
    resource = report["resource"]["service"]
    assert (resource["port"], resource["version"]) == (9090, "v2")
    assert report["completion"]["values"] == ["e2e-sdk"]
    assert report["deletePreview"]["data"]["outcome"] == "preview"
    assert report["deleteApplied"]["data"]["outcome"] == "applied"
    assert report["listAfter"]["data"]["services"] == []
    assert report["prompts"] == PROMPTS
    assert "confirmation_token" in report["promptText"]
    assert report["templates"] == TEMPLATES
    assert audit_outcomes(tmp_path / "audit.jsonl") == EXPECTED_AUDIT
