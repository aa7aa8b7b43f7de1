"""Settings: environment, then flags (which win); bad values are named; the token never shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.conftest import TOKEN
from ubiops_services_mcp.cli import build_parser, settings_from
from ubiops_services_mcp.hosting.serve import announce
from ubiops_services_mcp.options import OPTIONS, from_env
from ubiops_services_mcp.settings import Settings, SettingsError

SCRIPT = str(Path(sys.executable).parent / "ubiops-services-mcp")


def parse(argv: list[str], env: dict[str, str]) -> Settings:
    return settings_from(build_parser().parse_args(argv), env)


def test_environment_is_read() -> None:
    env = {
        "UBIOPS_API_TOKEN": TOKEN, "UBIOPS_API_HOST": "http://h/v2.1", "UBIOPS_PROJECT": "p", "UBIOPS_TIMEOUT": "5",
        "UBIOPS_MCP_READ_ONLY": "1", "UBIOPS_MCP_CONFIRMATION": "flag", "UBIOPS_MCP_ELICITATION": "off",
        "UBIOPS_SANDBOX_DB": ":memory:",
    }  # fmt: skip
    settings = from_env(env)
    assert settings.api_token == SecretStr(TOKEN)
    assert (settings.api_host, settings.project, settings.timeout_s) == ("http://h/v2.1", "p", 5.0)
    assert (settings.read_only, settings.confirmation, settings.elicitation) == (True, "flag", False)
    assert not settings.uses_sandbox
    assert settings.enabled_tools == (
        "services_get", "services_list", "services_status", "deployments_list", "deployments_get"
    )  # fmt: skip


def test_flags_win_over_the_environment() -> None:
    env = {"UBIOPS_PROJECT": "from-env", "UBIOPS_TIMEOUT": "5", "UBIOPS_MCP_CONFIRMATION": "flag"}
    argv = ["--project", "from-flag", "--timeout", "7", "--confirmation", "preview", "--read-only", "--no-elicitation"]
    settings = parse(argv, env)
    assert (settings.project, settings.timeout_s, settings.confirmation) == ("from-flag", 7.0, "preview")
    assert settings.read_only is True
    assert settings.elicitation is False


def test_subcommand_flags() -> None:
    settings = parse(["sandbox", "--port", "9999", "--sandbox-db", ":memory:"], {})
    assert (settings.port, settings.sandbox_db_path) == (9999, ":memory:")


def test_no_token_means_sandbox_with_demo_project() -> None:
    settings = from_env({})
    assert settings.uses_sandbox
    assert settings.default_project == "demo"
    assert from_env({"UBIOPS_API_TOKEN": "x"}).default_project is None
    assert from_env({"UBIOPS_API_TOKEN": "x", "UBIOPS_MCP_SANDBOX": "1"}).uses_sandbox


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"UBIOPS_TIMEOUT": "soon"}, "UBIOPS_TIMEOUT must be a number"),
        ({"UBIOPS_TIMEOUT": "-1"}, "UBIOPS_TIMEOUT must be greater than 0"),
        ({"UBIOPS_MCP_READ_ONLY": "maybe"}, "UBIOPS_MCP_READ_ONLY must be"),
        ({"UBIOPS_MCP_CONFIRMATION": "none"}, "UBIOPS_MCP_CONFIRMATION must be 'preview' or 'flag'"),
        ({"UBIOPS_MCP_TOOLS": "services_drop"}, "unknown tool(s) services_drop"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError) as error:
        from_env(env)
    assert says in str(error.value)


def test_every_option_has_a_flag_and_a_row_in_the_configuration_reference() -> None:
    readme = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    for option in OPTIONS:
        assert f"`{option.env}`" in readme
        assert f"`{option.flag}`" in readme


def test_secrets_never_in_repr() -> None:
    hmac_key, bearer = "hmac-key-" + "h" * 24, "bearer-" + "b" * 26
    settings = from_env({"UBIOPS_API_TOKEN": TOKEN, "UBIOPS_MCP_SECRET": hmac_key, "UBIOPS_MCP_AUTH_TOKEN": bearer})
    text = repr(settings) + str(settings) + repr(settings.api_config())
    for secret in (TOKEN, hmac_key, bearer):
        assert secret not in text


def test_bad_setting_exits_2_with_a_message(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "UBIOPS_TIMEOUT": "x"}
    done = subprocess.run([SCRIPT], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "UBIOPS_TIMEOUT must be a number" in done.stderr


def test_start_says_which_api_it_serves(tmp_path: Path) -> None:
    base = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "UBIOPS_SANDBOX_DB": ":memory:"}
    sandbox = subprocess.run([SCRIPT], env=base, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    real = subprocess.run(
        [SCRIPT], env={**base, "UBIOPS_API_TOKEN": TOKEN}, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert "SANDBOX mode" in sandbox.stderr
    assert "not UbiOps" in sandbox.stderr
    assert sandbox.stdout == ""  # stdout is the protocol
    assert "serving UbiOps at https://api.ubiops.com/v2.1" in real.stderr
    assert TOKEN not in real.stderr + real.stdout


@pytest.mark.parametrize(
    ("argv", "where"),
    [
        ([], ("127.0.0.1", 8000)),
        (["sandbox"], ("127.0.0.1", 8765)),
        (["--port", "18766", "sandbox"], ("127.0.0.1", 18766)),
        (["sandbox", "--port", "18766"], ("127.0.0.1", 18766)),
        (["--host", "::1", "--port", "18766", "sandbox"], ("::1", 18766)),
        (["--port", "1", "sandbox", "--port", "2"], ("127.0.0.1", 2)),
        (["--transport", "http", "--port", "18767"], ("127.0.0.1", 18767)),
        (["--port", "18768", "check"], ("127.0.0.1", 18768)),
    ],
)
def test_host_and_port_hold_before_or_after_the_command(argv: list[str], where: tuple[str, int]) -> None:
    """`--port 18766 sandbox` bound the sandbox's default 8765: the command's default overwrote the flag."""
    settings = parse(argv, {})
    assert (settings.host, settings.port) == where


def test_help_has_no_empty_heading_and_names_the_commands() -> None:
    text = build_parser().format_help()
    assert "positional arguments" not in text
    assert text.startswith("usage: ubiops-services-mcp [options] [sandbox [--host H] [--port P] | check]\n")
    for command in ("  sandbox ", "  check "):
        assert command in text


@pytest.mark.parametrize(
    "host", ["notaurl", "api.ubiops.com/v2.1", "ftp://h/v2.1", "https://", "http://[::1/v2.1", "https://h:99999/x",
             "https://h/v2.1?x=1", "https://h/v2.1#top", " "],
)  # fmt: skip
def test_an_api_host_that_is_not_an_http_url_is_refused(host: str) -> None:
    with pytest.raises(SettingsError, match=r"UBIOPS_API_HOST must be an http\(s\) URL such as https://api"):
        from_env({"UBIOPS_API_HOST": host})
    with pytest.raises(SettingsError, match=r"--api-host must be an http\(s\) URL"):
        parse(["--api-host", host], {})


@pytest.mark.parametrize("host", ["https://api.ubiops.com/v2.1", "http://127.0.0.1:8765/v2.1", "https://[::1]/v2.1"])
def test_an_http_url_is_a_valid_api_host(host: str) -> None:
    assert from_env({"UBIOPS_API_HOST": f" {host} "}).api_host == host


def test_a_bad_api_host_stops_the_start_with_a_message(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "UBIOPS_API_HOST": "notaurl", "UBIOPS_API_TOKEN": TOKEN}
    done = subprocess.run([SCRIPT], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "UBIOPS_API_HOST must be an http(s) URL" in done.stderr
    assert "serving UbiOps" not in done.stderr
    assert TOKEN not in done.stderr + done.stdout


class _Terminal:
    """A stdin that is a terminal: a person started the server by hand."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("host", "url"), [("127.0.0.1", "http://127.0.0.1:18769/mcp"), ("::1", "http://[::1]:18769/mcp")]
)
def test_http_start_says_the_url_it_serves(capsys: pytest.CaptureFixture[str], host: str, url: str) -> None:
    announce(Settings(transport="http", host=host, port=18769, sandbox_db=":memory:"))
    out, err = capsys.readouterr()
    assert f"MCP endpoint (streamable HTTP): {url}\n" in err
    assert out == ""


def test_stdio_tells_a_person_at_a_terminal_how_to_connect(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal())
    announce(Settings(sandbox_db=":memory:"))
    out, err = capsys.readouterr()
    assert "waiting for a client" in err
    assert "npx @modelcontextprotocol/inspector@" in err
    assert out == ""  # stdout is the protocol


def test_stdio_started_by_a_client_gets_no_terminal_hint(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "UBIOPS_SANDBOX_DB": ":memory:"}
    done = subprocess.run([SCRIPT], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "SANDBOX mode" in done.stderr
    assert "waiting for a client" not in done.stderr
    assert done.stdout == ""
