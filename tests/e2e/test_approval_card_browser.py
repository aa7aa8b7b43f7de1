"""The approval card in a real browser: headless Chromium, a test host on the official AppBridge, the installed
server over streamable HTTP under --require-human, and a recording sandbox behind it.

The host declares MCP Apps but not elicitation, so the model's confirm is refused: a click on Apply in the card
is the only way a change reaches the API. The recorded API traffic proves it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, serve_in_thread
from tests.e2e.conftest import E2E_DIR
from tests.security.process import base_env, serving
from ubiops_services_mcp.sandbox import create_app
from ubiops_services_mcp.settings import ALL_TOOLS
from ubiops_services_mcp.tools.card import CARD_TOOL

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
IMAGES = E2E_DIR.parent.parent / "docs" / "images"
API_TOKEN = "card-e2e-token-0123456789"
Scope = MutableMapping[str, Any]
Asgi = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class Recorder:
    """ASGI middleware in front of the sandbox: every request the server sends, as 'METHOD path'."""

    def __init__(self, app: Asgi) -> None:
        self.app = app
        self.lines: list[str] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (b"x-colleague", b"1") not in scope["headers"]:
            self.lines.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)

    @property
    def mutations(self) -> list[str]:
        return [line for line in self.lines if not line.startswith(("GET", "HEAD"))]


@pytest.fixture
def recorded_sandbox(tmp_path: Path) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder(create_app(str(tmp_path / "sandbox.sqlite3")))  # type: ignore[arg-type]
    with serve_in_thread(recorder) as port:
        yield f"http://127.0.0.1:{port}/v2.1", recorder


def test_only_a_click_in_the_card_changes_anything(
    node_modules: Path, recorded_sandbox: tuple[str, Recorder], tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (Debian's chromium package): the card's browser test needs it")
    node = shutil.which("node")
    assert node is not None
    api, recorder = recorded_sandbox
    port = free_port()
    env = base_env(tmp_path, UBIOPS_API_HOST=api, UBIOPS_API_TOKEN=API_TOKEN, UBIOPS_PROJECT="demo",
                   UBIOPS_MCP_SECRET="card-e2e-secret-0123456789abcdefghij")  # fmt: skip
    args = ["--transport", "http", "--host", "127.0.0.1", "--port", str(port), "--require-human"]
    IMAGES.mkdir(parents=True, exist_ok=True)
    with serving(args, env, port, tmp_path / "server.err") as server:
        command = [
            node,
            str(E2E_DIR / "card_host" / "driver.mjs"),
            server.url,
            api,
            API_TOKEN,
            str(IMAGES),
            str(tmp_path),
        ]
        done = subprocess.run(command, cwd=E2E_DIR, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (
        f"driver failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n{server.stderr[-3000:]}"
    )
    seen = json.loads(done.stdout)
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    scenes = seen["scenarios"]

    # The model's tool list: a compliant host filters the app-only tool; a client without Apps is never offered it.
    assert sorted(seen["modelTools"]) == sorted(ALL_TOOLS)
    assert CARD_TOOL in seen["allTools"]
    assert sorted(seen["toolsWithoutApps"]) == sorted(ALL_TOOLS)

    # Only the three clicks on Apply reached the API as changes (the creates are the test's setup).
    changes = [line for line in recorder.mutations if not line.startswith("POST")]
    assert changes == [
        "PATCH /v2.1/projects/demo/services/shop-web",
        "PATCH /v2.1/projects/demo/services/shop-api",
        "DELETE /v2.1/projects/demo/services/legacy-api",
    ]
    applied = [line for line in audit if line["outcome"] == "applied" and line["tool"] != "services_create"]
    assert [(a["service"], a["approved_by"], a["approved_via"]) for a in applied] == [
        ("shop-web", "human", "card"),
        ("shop-api", "human", "card"),
        ("legacy-api", "human", "card"),
    ]

    update = scenes["update"]
    for text in ("shop-web", "shop-api", "2 services", "port", "8080", "9090", "Project demo", "expires"):
        assert text in update["shown"], text
    assert update["focused"] == "Apply"  # keyboard: focus on Apply, Enter applies
    assert "approved by the user in the approval card" in update["after"]
    assert "default version, now v1" in update["shown"]  # shop-web and shop-api follow hello-world's default
    assert update["after"].count("8080 → 9090") == 2  # the applied diff (before/after), not "(none) → (none)"

    delete = scenes["delete"]
    for text in ("Delete service legacy-api", "Old endpoint, kept for the mobile app", "v2", "9000", "team"):
        assert text in delete["shown"], text
    assert "Deleted" in delete["after"]

    decline = scenes["decline"]
    assert "declined" in decline["after"]
    assert "Would run v2: available, 1\u20133 instances." in decline["shown"]  # the version a move lands on
    assert "Do not try it again" in decline["modelContext"]["content"][0]["text"]
    stale = scenes["stale"]
    assert stale["colleague"] == 200
    assert "description" in stale["refused"]
    assert "changed by a colleague" in stale["refused"]
    xss = scenes["xss"]
    assert '<img src=x onerror="window.parent.__pwned=1;' in xss["shown"]
    assert xss["images"] == 0
    assert xss["pwned"] is False
    assert "<U+200B>" in scenes["dark"]["shown"]
    assert seen["external"] == []
    assert "dialog" not in seen
    declined = [line for line in audit if line["outcome"] == "declined"]
    assert len(declined) == 4
    assert all(line["via"] == "card" for line in declined)
