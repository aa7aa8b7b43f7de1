"""MCP prompts from the Markdown files in prompts/: each file is one template, its arguments in its front matter.

A file starts with YAML front matter between two `---` lines (read by PyYAML, strictly: a repeated key is an
error, and only `true`/`false` are not text, so `default: no` stays the word "no"):

    ---
    name: change-service-safely
    title: Change a service safely
    description: One line that says what the prompt is for.
    arguments:
      - name: service_name
        description: What the argument is.
        required: true
      - name: project_name
        description: What the argument is.
        required: false
        default: Text used when the caller leaves it out.
    ---
    The text of the prompt, with {{service_name}} and {{project_name}} where the values go.

The files live at the repository root (an editable install reads them there) and are shipped inside the
wheel as package data under PACKAGED_DIR.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final, cast

import yaml
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import Message, Prompt, PromptArgument, UserMessage
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, InputRequiredResult
from pydantic import Field

PACKAGED_DIR: Final = "prompt_templates"
MAX_VALUE_CHARS: Final = 500
_PROMPT_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_ARG_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]*)\s*\}\}")
_TOP_KEYS: Final = frozenset({"name", "title", "description", "arguments"})
_ARG_KEYS: Final = frozenset({"name", "description", "required", "default"})


class PromptFileError(ValueError):
    """A prompt file cannot be used; the message names the file and, where it can, the line."""


@dataclass(frozen=True)
class PromptArg:
    """One declared argument; `default` is the text an optional argument renders as when left out."""

    name: str
    description: str
    required: bool
    default: str | None = None


@dataclass(frozen=True)
class PromptTemplate:
    """One prompt file, parsed and checked: every placeholder is a declared argument and every argument is used."""

    name: str
    title: str
    description: str
    arguments: tuple[PromptArg, ...]
    body: str

    def render(self, values: Mapping[str, Any]) -> str:
        """The prompt text with the given values; an optional argument left out takes its default text."""
        known = [arg.name for arg in self.arguments]
        if unknown := sorted(set(values) - set(known)):
            raise _invalid(f"unknown argument(s) {', '.join(unknown)}; {self.name} takes {', '.join(known)}")
        given = {name: str(value).strip() for name, value in values.items() if value is not None}
        if missing := [arg.name for arg in self.arguments if arg.required and not given.get(arg.name)]:
            raise _invalid(f"missing required argument(s) {', '.join(missing)} of prompt {self.name}")
        if too_long := [name for name, value in given.items() if len(value) > MAX_VALUE_CHARS]:
            raise _invalid(f"argument(s) {', '.join(too_long)} longer than {MAX_VALUE_CHARS} characters")
        text = {arg.name: given.get(arg.name) or arg.default or "" for arg in self.arguments}
        return _PLACEHOLDER.sub(lambda match: text[match.group(1)], self.body)


def _invalid(message: str) -> MCPError:
    """An error the client sees as it is (invalid params), not hidden behind a generic rendering failure."""
    return MCPError(code=INVALID_PARAMS, message=message)


def prompt_dir() -> Traversable:
    """The installed wheel's package data, else the repository's prompts/ (editable install, checkout)."""
    packaged = resources.files("ubiops_services_mcp") / PACKAGED_DIR
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "prompts"


def load_prompts(directory: Traversable | None = None) -> list[PromptTemplate]:
    """Every *.md file of the directory, sorted by name; a broken file stops the server from starting."""
    where = directory if directory is not None else prompt_dir()
    if not where.is_dir():
        raise PromptFileError(f"no prompt directory at {where}")
    files = sorted((item for item in where.iterdir() if item.name.endswith(".md")), key=lambda item: item.name)
    return [parse_prompt(item.read_text(encoding="utf-8"), item.name) for item in files]


def parse_prompt(text: str, filename: str) -> PromptTemplate:
    """A PromptTemplate from one file's text; `filename` must be the prompt's name plus '.md'."""
    meta, body = _split_front_matter(text, filename)
    missing = sorted(key for key in ("name", "title", "description") if not isinstance(meta.get(key), str))
    if missing:
        raise PromptFileError(f"{filename}: front matter needs {', '.join(missing)}")
    name = str(meta["name"])
    if not _PROMPT_NAME.match(name) or f"{name}.md" != filename:
        raise PromptFileError(f"{filename}: name {name!r} must be lowercase-with-hyphens and match the file name")
    raw_args = meta.get("arguments", [])
    if not isinstance(raw_args, list) or not all(isinstance(item, dict) for item in cast(list[Any], raw_args)):
        raise PromptFileError(f"{filename}: arguments must be a list of '- name: ...' items")
    arguments = tuple(_argument(item, filename) for item in cast(list[dict[str, Any]], raw_args))
    _check_names(name, arguments, body, filename)
    return PromptTemplate(name, str(meta["title"]), str(meta["description"]), arguments, body)


def _argument(item: dict[str, Any], filename: str) -> PromptArg:
    """One '- name: ...' item, checked, so a typo in a file fails at start instead of in a client."""
    name = item.get("name")
    if not isinstance(name, str) or not _ARG_NAME.match(name):
        raise PromptFileError(f"{filename}: argument name {name!r} must be lowercase_with_underscores")
    unknown = sorted(set(item) - _ARG_KEYS)
    if unknown:
        raise PromptFileError(f"{filename}: argument {name}: unknown key(s) {', '.join(unknown)}")
    description, required, default = item.get("description"), item.get("required", False), item.get("default")
    if not isinstance(description, str) or not description:
        raise PromptFileError(f"{filename}: argument {name} needs a description")
    if not isinstance(required, bool):
        raise PromptFileError(f"{filename}: argument {name}: required must be true or false")
    if not required and not isinstance(default, str):
        raise PromptFileError(f"{filename}: optional argument {name} needs a default (the text used without it)")
    return PromptArg(name, description, required, default if isinstance(default, str) else None)


def _check_names(name: str, arguments: tuple[PromptArg, ...], body: str, filename: str) -> None:
    """Placeholders and arguments agree both ways: no value is dropped and no '{{x}}' reaches the model."""
    declared = [arg.name for arg in arguments]
    if len(set(declared)) != len(declared):
        raise PromptFileError(f"{filename}: an argument is declared twice")
    used = set(_PLACEHOLDER.findall(body))
    if undeclared := sorted(used - set(declared)):
        raise PromptFileError(f"{filename}: placeholder(s) {', '.join(undeclared)} are not declared arguments")
    if unused := sorted(set(declared) - used):
        raise PromptFileError(f"{filename}: argument(s) {', '.join(unused)} never appear in the text")
    if not body.strip():
        raise PromptFileError(f"{filename}: the prompt {name} has no text")


def _split_front_matter(text: str, filename: str) -> tuple[dict[str, Any], str]:
    """Front matter as a dict and the text after it; the YAML between the `---` lines is read by PyYAML."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise PromptFileError(f"{filename}: must start with a '---' line opening the front matter")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise PromptFileError(f"{filename}: the front matter has no closing '---' line")
    try:
        meta = yaml.load("\n".join(lines[1:end]), Loader=_FrontMatterLoader)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 2 if error.problem_mark else "?"  # +1: 1-based, +1: the opening '---'
        raise PromptFileError(f"{filename}:{line}: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise PromptFileError(f"{filename}: {error}") from None
    if not isinstance(meta, dict):
        raise PromptFileError(f"{filename}: the front matter must be 'key: value' lines")
    front = cast(dict[str, Any], meta)
    if unknown := sorted(set(front) - _TOP_KEYS):
        raise PromptFileError(f"{filename}: unexpected key(s) {', '.join(unknown)}")
    return front, "\n".join(lines[end + 1 :]).strip() + "\n"


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader, stricter: text stays text (no yes/no/null/number guessing) and a repeated key is an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in cast(list[tuple[yaml.Node, yaml.Node]], node.value):
            key = str(key_node.value)  # PyYAML would let the last of two equal keys win, silently
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"repeated key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_BOOL = ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
_FrontMatterLoader.yaml_implicit_resolvers = {first: [_BOOL] for first in "tTfF"}


class FilePrompt(Prompt):
    """An SDK prompt rendered by its template, so every argument error reaches the client as invalid params."""

    template: PromptTemplate = Field(exclude=True)

    async def render(
        self, arguments: dict[str, Any] | None, context: Context[Any, Any]
    ) -> list[Message] | InputRequiredResult:
        return [UserMessage(self.template.render(arguments or {}))]


def as_prompt(template: PromptTemplate) -> FilePrompt:
    """The SDK prompt for one template: its arguments are what prompts/list shows."""
    arguments = [
        PromptArgument(name=a.name, description=a.description, required=a.required) for a in template.arguments
    ]
    return FilePrompt(
        name=template.name,
        title=template.title,
        description=template.description,
        arguments=arguments,
        fn=template.render,
        context_kwarg=None,
        template=template,
    )


def register(server: MCPServer[Any]) -> list[PromptTemplate]:
    """Add every prompt file to the server; returns the templates so callers can see what was registered."""
    templates = load_prompts()
    for template in templates:
        server.add_prompt(as_prompt(template))
    return templates
