"""The prompt templates in prompts/: valid files, rendered through a real client session, arguments enforced."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import MCPError
from mcp.types import INVALID_PARAMS

from tests.conftest import RecordingTransport, session
from ubiops_services_mcp.prompts import PromptFileError, load_prompts, parse_prompt
from ubiops_services_mcp.settings import ALL_TOOLS, Settings

pytestmark = pytest.mark.anyio

PROMPT_DIR = Path(__file__).resolve().parents[2] / "prompts"
TEMPLATES = {template.name: template for template in load_prompts()}
REQUIRED_PROMPTS = {"expose-deployment", "audit-services", "change-service-safely", "troubleshoot-service"}
# What each prompt must tell the model: the tools and the settings it is about.
MUST_MENTION = {
    "expose-deployment": [
        "services_create",
        '"authentication_required": true',
        '"authentication_method_token_enabled": true',
        '"request_logging_excluded_paths"',
        "health",
    ],
    "audit-services": ["services_list", "services_get", "authentication_required", "rate_limit", "labels"],
    "change-service-safely": ["services_update", "services_delete", "confirm: true", "confirmation_token", "preview"],
    "troubleshoot-service": ["services_get", "services_status", "port", "health_check"],
}
SAMPLE = {"deployment": "hello-world", "port": "8080", "service_name": "svc-7", "change": "use version v2"}


def sample_values(name: str, *, optional: bool) -> dict[str, str]:
    """A value for every required argument, and for the optional ones too when asked."""
    arguments = [arg for arg in TEMPLATES[name].arguments if optional or arg.required]
    return {arg.name: SAMPLE.get(arg.name, f"value-of-{arg.name}") for arg in arguments}


def test_the_issue_prompts_exist_one_file_each() -> None:
    assert {path.stem for path in PROMPT_DIR.glob("*.md")} == set(TEMPLATES)
    assert set(TEMPLATES) >= REQUIRED_PROMPTS


@pytest.mark.parametrize("name", sorted(MUST_MENTION))
def test_prompt_text_names_concrete_tools_and_settings(name: str) -> None:
    text = TEMPLATES[name].render(sample_values(name, optional=False))
    for phrase in MUST_MENTION[name]:
        assert phrase in text, f"{name} does not mention {phrase}"
    tools = {word.strip("`(),.:") for word in text.split() if word.strip("`(),.:").startswith("services_")}
    assert tools <= set(ALL_TOOLS), f"{name} names tools that do not exist: {tools - set(ALL_TOOLS)}"


async def test_prompts_list_shows_each_prompt_with_its_arguments(
    settings: Settings, wire: RecordingTransport, mode: str
) -> None:
    async with session(settings, wire, mode) as client:
        listed = (await client.list_prompts()).prompts
    assert sorted(prompt.name for prompt in listed) == sorted(TEMPLATES)
    for prompt in listed:
        template = TEMPLATES[prompt.name]
        assert (prompt.title, prompt.description) == (template.title, template.description)
        shown = [(arg.name, arg.required, arg.description) for arg in prompt.arguments or []]
        assert shown == [(arg.name, arg.required, arg.description) for arg in template.arguments]
    assert not wire.requests


@pytest.mark.parametrize("name", sorted(TEMPLATES))
async def test_prompt_renders_with_required_and_with_all_arguments(
    settings: Settings, wire: RecordingTransport, mode: str, name: str
) -> None:
    required, everything = sample_values(name, optional=False), sample_values(name, optional=True)
    async with session(settings, wire, mode) as client:
        short = await client.get_prompt(name, required)
        full = await client.get_prompt(name, everything)
    for result, values in ((short, required), (full, everything)):
        (message,) = result.messages
        assert message.role == "user"
        text = message.content.text  # type: ignore[union-attr]
        assert "{{" not in text
        assert all(value in text for value in values.values())
    defaults = [arg.default for arg in TEMPLATES[name].arguments if not arg.required]
    assert all(default in short.messages[0].content.text for default in defaults)  # type: ignore[union-attr]
    assert not any(default in full.messages[0].content.text for default in defaults)  # type: ignore[union-attr]


@pytest.mark.parametrize("name", sorted(n for n, t in TEMPLATES.items() if any(a.required for a in t.arguments)))
async def test_missing_or_empty_required_argument_is_an_invalid_params_error(
    settings: Settings, wire: RecordingTransport, mode: str, name: str
) -> None:
    values = sample_values(name, optional=True)
    first_required = next(arg.name for arg in TEMPLATES[name].arguments if arg.required)
    async with session(settings, wire, mode) as client:
        for wrong in ({k: v for k, v in values.items() if k != first_required}, {**values, first_required: "  "}):
            with pytest.raises(MCPError) as caught:
                await client.get_prompt(name, wrong)
            assert caught.value.error.code == INVALID_PARAMS
            assert first_required in caught.value.error.message


async def test_unknown_argument_is_refused_naming_the_known_ones(
    settings: Settings, wire: RecordingTransport, mode: str
) -> None:
    async with session(settings, wire, mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.get_prompt("audit-services", {"projct_name": "demo"})
    assert caught.value.error.code == INVALID_PARAMS
    assert "projct_name" in caught.value.error.message
    assert "project_name" in caught.value.error.message


async def test_an_overlong_value_is_refused(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    async with session(settings, wire, mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.get_prompt("troubleshoot-service", {"service_name": "svc", "symptom": "x" * 501})
    assert caught.value.error.code == INVALID_PARAMS
    assert "symptom" in caught.value.error.message


GOOD = """---
name: sample
title: Sample
description: A sample.
arguments:
  - name: who
    description: Someone.
    required: true
  - name: where
    description: "Somewhere: quoted."
    required: false
    default: nowhere
---
Hello {{who}} from {{ where }}.
"""


def test_front_matter_parses_quotes_booleans_and_defaults() -> None:
    template = parse_prompt(GOOD, "sample.md")
    assert [(a.name, a.required, a.default) for a in template.arguments] == [
        ("who", True, None),
        ("where", False, "nowhere"),
    ]
    assert template.arguments[1].description == "Somewhere: quoted."
    assert template.render({"who": "Ann"}) == "Hello Ann from nowhere.\n"
    assert template.render({"who": "{{where}}", "where": "here"}) == "Hello {{where}} from here.\n"


@pytest.mark.parametrize(
    ("broken", "filename", "complaint"),
    [
        (GOOD.replace("---\nname", "name", 1), "sample.md", "must start with"),
        (GOOD.replace("---\nHello", "Hello"), "sample.md", "no closing"),
        (GOOD, "other.md", "match the file name"),
        (GOOD.replace("{{ where }}", "{{ there }}"), "sample.md", "there"),
        (GOOD.replace("from {{ where }}", ""), "sample.md", "never appear"),
        (GOOD.replace("    default: nowhere\n", ""), "sample.md", "needs a default"),
        (GOOD.replace("required: true", "required: yes"), "sample.md", "true or false"),
        (GOOD.replace("title: Sample\n", ""), "sample.md", "title"),
        (GOOD.replace("title: Sample", "title: Sample\ntitle: Again"), "sample.md", "repeated"),
        (GOOD.replace("title: Sample", "  stray: line\ntitle: Sample"), "sample.md", r"sample.md:3: mapping values"),
        (GOOD.replace("title: Sample", "title: [Sample"), "sample.md", r"sample.md:\d+: "),
        (GOOD.replace("description: A sample.", "description: A sample.\ncolour: red"), "sample.md", "colour"),
        (GOOD.replace("  - name: who", "  - who\n  - name: who"), "sample.md", "list of '- name"),
        (GOOD.replace("    required: true", "    required: true\n    colour: red"), "sample.md", "colour"),
    ],
)
def test_broken_prompt_files_are_refused_naming_the_problem(broken: str, filename: str, complaint: str) -> None:
    with pytest.raises(PromptFileError, match=complaint):
        parse_prompt(broken, filename)


def test_front_matter_keeps_yaml_words_as_text() -> None:
    """YAML 1.1 would read `no`, `null` or `off` as false or null: front matter text stays text."""
    template = parse_prompt(GOOD.replace("default: nowhere", "default: no").replace("A sample.", "null"), "sample.md")
    assert (template.description, template.arguments[1].default) == ("null", "no")
    assert parse_prompt(GOOD.replace("default: nowhere", "default: 8080"), "sample.md").arguments[1].default == "8080"
    block = GOOD.replace("default: nowhere", "default: >-\n      two\n      lines")
    assert parse_prompt(block, "sample.md").arguments[1].default == "two lines"


def test_a_broken_file_stops_loading(tmp_path: Path) -> None:
    (tmp_path / "sample.md").write_text(GOOD.replace("{{who}}", "{{nobody}}"))
    with pytest.raises(PromptFileError, match="nobody"):
        load_prompts(tmp_path)


async def test_an_unknown_prompt_is_invalid_params_on_both_protocols(
    settings: Settings, wire: RecordingTransport, mode: str
) -> None:
    async with session(settings, wire, mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("no-such-prompt")
    assert raised.value.error.code == INVALID_PARAMS
    assert "Unknown prompt: no-such-prompt" in raised.value.error.message
