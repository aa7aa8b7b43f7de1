"""Packaging: server.json and manifest.json match the code; the wheel ships the prompts, both archives the licence."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import Client
from pydantic import SecretStr

from ubiops_services_mcp import __version__
from ubiops_services_mcp.app import create_server
from ubiops_services_mcp.hosting.serve import stdio_hint
from ubiops_services_mcp.options import OPTIONS
from ubiops_services_mcp.prompts import PACKAGED_DIR
from ubiops_services_mcp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SERVER_JSON = json.loads((ROOT / "server.json").read_text())
MANIFEST = json.loads((ROOT / "manifest.json").read_text())
ENV_VARS = {option.env for option in OPTIONS}

# The rules of https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json that this file
# relies on, restated here (the registry's own validator is the mcp-publisher binary, not a package).
REGISTRY_RULES = {
    "type": "object",
    "required": ["$schema", "name", "description", "version", "packages"],
    "properties": {
        "$schema": {"const": "https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json"},
        "name": {"type": "string", "pattern": r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$", "minLength": 3, "maxLength": 200},
        "description": {"type": "string", "minLength": 1, "maxLength": 100},
        "version": {"type": "string", "maxLength": 255},
        "repository": {"type": "object", "required": ["url", "source"]},
        "packages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["registryType", "identifier", "version", "transport"],
                "properties": {
                    "transport": {"type": "object", "required": ["type"]},
                    "environmentVariables": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "description"],
                            "properties": {"format": {"enum": ["string", "number", "boolean", "filepath"]}},
                        },
                    },
                },
            },
        },
    },
}


async def server_tool_names() -> list[str]:
    """Every tool a default server registers, as a client lists them."""
    settings = Settings(sandbox=True, sandbox_db=":memory:", secret=SecretStr("packaging"))
    async with Client(create_server(settings), mode="legacy") as client:
        return sorted(tool.name for tool in (await client.list_tools()).tools)


def test_server_json_follows_the_registry_schema_and_the_package() -> None:
    jsonschema.validate(SERVER_JSON, REGISTRY_RULES)
    (package,) = SERVER_JSON["packages"]
    assert SERVER_JSON["version"] == package["version"] == __version__
    assert (package["registryType"], package["identifier"]) == ("pypi", PROJECT["name"])
    assert package["transport"] == {"type": "stdio"}
    variables = {variable["name"]: variable for variable in package["environmentVariables"]}
    assert set(variables) <= ENV_VARS
    assert variables["UBIOPS_API_TOKEN"]["isSecret"] is True
    assert not any(variable.get("isRequired") for variable in variables.values()), "the sandbox needs none"


@pytest.mark.anyio
async def test_manifest_matches_version_tools_and_settings() -> None:
    assert MANIFEST["version"] == __version__
    assert MANIFEST["name"] == PROJECT["name"]
    assert sorted(tool["name"] for tool in MANIFEST["tools"]) == await server_tool_names()
    assert MANIFEST["prompts_generated"] is True
    assert MANIFEST["license"] == PROJECT["license"]


def test_manifest_passes_user_config_to_the_settings_it_names() -> None:
    server, config = MANIFEST["server"], MANIFEST["user_config"]
    assert (ROOT / server["entry_point"]).is_file()
    env: dict[str, str] = server["mcp_config"]["env"]
    assert set(env) == {"UBIOPS_API_TOKEN", "UBIOPS_PROJECT", "UBIOPS_API_HOST"}
    assert set(env) <= ENV_VARS
    keys = {value.removeprefix("${user_config.").removesuffix("}") for value in env.values()}
    assert keys == set(config)
    assert config[env["UBIOPS_API_TOKEN"][len("${user_config.") : -1]]["sensitive"] is True
    assert not any(option.get("required") for option in config.values()), "empty settings mean the sandbox"


def build_wheel(into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(into), str(ROOT)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (wheel,) = into.glob("*.whl")
    return wheel


LIST_PROMPTS = """
import anyio, json, sys
from mcp import Client
from ubiops_services_mcp import prompts
from ubiops_services_mcp.app import create_server
from ubiops_services_mcp.settings import Settings

async def main() -> None:
    async with Client(create_server(Settings(sandbox=True, sandbox_db=":memory:"))) as client:
        listed = [prompt.name for prompt in (await client.list_prompts()).prompts]
    print(json.dumps({"from": str(prompts.prompt_dir()), "module": prompts.__file__, "prompts": listed}))

anyio.run(main)
"""


@pytest.mark.slow
def test_the_wheel_ships_the_prompts_and_an_install_serves_them(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    shipped = {
        Path(name).name: zipfile.ZipFile(wheel).read(name)
        for name in zipfile.ZipFile(wheel).namelist()
        if name.startswith(f"ubiops_services_mcp/{PACKAGED_DIR}/")
    }
    assert shipped == {path.name: path.read_bytes() for path in (ROOT / "prompts").glob("*.md")}

    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    env = {"PYTHONPATH": str(target), "HOME": str(tmp_path), "UBIOPS_MCP_AUDIT_LOG": str(tmp_path / "audit.jsonl")}
    done = subprocess.run(
        [sys.executable, "-c", LIST_PROMPTS], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    assert found["module"].startswith(str(target)), "the installed copy, not the checkout, must be imported"
    assert found["from"] == str(target / "ubiops_services_mcp" / PACKAGED_DIR)
    assert sorted(found["prompts"]) == sorted(Path(name).stem for name in shipped)


@pytest.mark.slow
def test_wheel_and_sdist_ship_the_licence_and_complete_metadata(tmp_path: Path) -> None:
    """Both archives carry the Apache-2.0 text; the metadata names the licence, its file, the URLs and versions."""
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        pytest.skip(f"uv is not installed beside {sys.executable}: `make test` installs it")
    dist = tmp_path / "dist"
    done = subprocess.run(
        [str(uv), "build", "--sdist", "--wheel", "--out-dir", str(dist), str(ROOT)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    licence = (ROOT / "LICENSE").read_bytes()
    assert licence.lstrip().startswith(b"Apache License\n                           Version 2.0, January 2004")
    stem = f"ubiops_services_mcp-{__version__}"

    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(f"{stem}.dist-info/licenses/LICENSE") == licence
        metadata = archive.read(f"{stem}.dist-info/METADATA").decode()
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
        shipped = archive.extractfile(f"{stem}/LICENSE")
        assert shipped is not None
        assert shipped.read() == licence
    assert {f"{stem}/uv.lock", f"{stem}/pyproject.toml", f"{stem}/README.md"} <= names

    for line in (
        "License-Expression: Apache-2.0",
        "License-File: LICENSE",
        "Author: UbiOps",
        "Project-URL: Repository, https://github.com/ubiops/ubiops-services-mcp",
        "Project-URL: Issues, https://github.com/ubiops/ubiops-services-mcp/issues",
        "Classifier: Development Status :: 3 - Alpha",
        "Classifier: Programming Language :: Python :: 3.11",
        "Classifier: Programming Language :: Python :: 3.13",
        "Requires-Python: >=3.11",
    ):
        assert f"\n{line}\n" in metadata, line
    assert PROJECT["license"] == MANIFEST["license"] == "Apache-2.0"


def test_the_readme_and_the_start_hint_run_the_pinned_inspector_on_the_node_it_needs() -> None:
    """An unpinned `npx @modelcontextprotocol/inspector` on Node 20 silently ran Inspector 0.15."""
    e2e = ROOT / "tests" / "e2e"
    pinned = json.loads((e2e / "package.json").read_text())["devDependencies"]["@modelcontextprotocol/inspector"]
    lock = json.loads((e2e / "package-lock.json").read_text())["packages"]
    engines = lock["node_modules/@modelcontextprotocol/inspector"]["engines"]["node"]  # ">=22.19.0"
    major, minor, _ = engines.removeprefix(">=").split(".")
    readme = (ROOT / "README.md").read_text()
    assert re.findall(r"^npx @modelcontextprotocol/inspector\S*", readme, re.MULTILINE) == [
        f"npx @modelcontextprotocol/inspector@{pinned}"
    ]
    assert f"Node.js {major}.{minor} or newer" in readme
    for page in ("clients.md", "development.md"):  # the reference pages say the same
        assert f"Node.js {major}.{minor}" in (ROOT / "docs" / page).read_text()
    assert f"@modelcontextprotocol/inspector@{pinned} " in stdio_hint()
    assert f"Node.js {major}.{minor}+" in stdio_hint()
