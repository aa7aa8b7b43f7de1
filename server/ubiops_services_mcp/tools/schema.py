"""Smaller JSON schemas with the same meaning: every byte of tools/list is read into the model's context."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, cast

_DEFS = "#/$defs/"
_ANNOTATIONS = frozenset({"description", "examples"})


def compact_schema(schema: dict[str, Any], *, output: bool = False) -> dict[str, Any]:
    """Drop generated titles, `default: null` (for outputs every default) and `additionalProperties: true` (the
    JSON Schema default); drop the null option of optional arguments whose default is null; write the remaining
    `anyOf [T, null]` as `type: [T, null]`; in outputs, inline definitions used once."""
    compact = cast(dict[str, Any], _compact(schema, output, in_names=False))
    return _inline_single_use(compact) if output else compact


def _compact(node: Any, output: bool, in_names: bool) -> Any:
    if isinstance(node, list):
        return [_compact(item, output, False) for item in cast(list[Any], node)]
    if not isinstance(node, dict):
        return node
    mapping = cast(dict[str, Any], node)
    if in_names:  # keys here are property or definition names, not schema keywords
        return {key: _compact(value, output, False) for key, value in mapping.items()}
    if not output:
        mapping = _optional_without_null(mapping)
    result: dict[str, Any] = {}
    for key, value in mapping.items():
        if key == "title" or (key == "default" and (output or value in (None, ""))):
            continue
        if key == "additionalProperties" and value is True:
            continue
        result[key] = _compact(value, output, in_names=key in ("properties", "$defs"))
    return _nullable(result)


def _optional_without_null(node: dict[str, Any]) -> dict[str, Any]:
    """An optional argument whose default is null needs no null type: leaving it out means the same, and
    schemas without `anyOf`/type lists travel to more clients (some LLM APIs accept one type per field)."""
    properties = node.get("properties")
    if not isinstance(properties, dict):
        return node
    required = set(cast(list[str], node.get("required") or []))
    trimmed: dict[str, Any] = {}
    for name, prop in cast(dict[str, Any], properties).items():
        if name not in required and isinstance(prop, dict) and cast(dict[str, Any], prop).get("default", 0) is None:
            prop = _drop_null_option(cast(dict[str, Any], prop))
        trimmed[name] = prop
    return {**node, "properties": trimmed}


def _drop_null_option(prop: dict[str, Any]) -> dict[str, Any]:
    options = prop.get("anyOf")
    if not isinstance(options, list):
        return prop
    kept = [option for option in cast(list[Any], options) if option != {"type": "null"}]
    rest = {key: value for key, value in prop.items() if key not in ("anyOf", "default")}
    if len(kept) == 1 and isinstance(kept[0], dict):
        return {**cast(dict[str, Any], kept[0]), **rest}
    return {**rest, "anyOf": kept}


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    """`{"anyOf": [{"type": "string", ...}, {"type": "null"}]}` -> `{"type": ["string", "null"], ...}`."""
    options = node.get("anyOf")
    if not isinstance(options, list) or len(cast(list[Any], options)) != 2:
        return node
    first, second = cast(list[Any], options)
    if second != {"type": "null"} or not isinstance(first, dict):
        return node
    inner = cast(dict[str, Any], first)
    if not isinstance(inner.get("type"), str) or inner.get("type") in ("object", "array"):
        return node
    merged = {key: value for key, value in node.items() if key != "anyOf"}
    return {**inner, **merged, "type": [inner["type"], "null"]}


def _refs(node: Any) -> Iterator[str]:
    """Every `$ref` value in a schema, definitions included."""
    if isinstance(node, list):
        for item in cast(list[Any], node):
            yield from _refs(item)
    elif isinstance(node, dict):
        for key, value in cast(dict[str, Any], node).items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)


def _inline_single_use(schema: dict[str, Any]) -> dict[str, Any]:
    """Put a definition used exactly once where it is used (a description beside the `$ref` wins over the
    definition's): the name and the pointer go, and validators skip a `$ref` lookup (~tens of µs each)."""
    definitions = cast(dict[str, Any], schema.get("$defs") or {})
    uses = Counter(_refs(schema))

    def expand(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [expand(item, seen) for item in cast(list[Any], node)]
        if not isinstance(node, dict):
            return node
        mapping = cast(dict[str, Any], node)
        ref = mapping.get("$ref")
        name = ref.removeprefix(_DEFS) if isinstance(ref, str) and ref.startswith(_DEFS) else ""
        if name in definitions and uses[_DEFS + name] == 1 and name not in seen:
            target = cast(dict[str, Any], expand(definitions[name], seen | {name}))
            siblings = {key: expand(value, seen) for key, value in mapping.items() if key != "$ref"}
            clashing = {key for key, value in siblings.items() if target.get(key, value) != value}
            if clashing <= _ANNOTATIONS:  # the use site's own words win; validation is unchanged
                return {**target, **siblings}
        return {key: expand(value, seen) for key, value in mapping.items()}

    result = cast(dict[str, Any], expand({k: v for k, v in schema.items() if k != "$defs"}, frozenset()))
    kept: dict[str, Any] = {}
    pending = list(_refs(result))
    while pending:  # definitions still referenced, directly or through another kept definition
        name = pending.pop().removeprefix(_DEFS)
        if name in definitions and name not in kept:
            kept[name] = expand(definitions[name], frozenset({name}))
            pending.extend(_refs(kept[name]))
    if kept:
        result["$defs"] = {name: kept[name] for name in definitions if name in kept}
    return result


def described_elsewhere(schema: dict[str, Any], definitions: dict[str, str], keep: frozenset[str]) -> dict[str, Any]:
    """The schema with the field descriptions of `definitions` (name -> new description of the definition) left
    out, but for the fields in `keep`: another tool's schema describes the same fields, and a model reads every
    tool's schema at once, so once is enough."""
    defs = cast(dict[str, Any], schema.get("$defs") or {})
    trimmed = dict(defs)
    for name, note in definitions.items():
        if name not in defs:
            continue
        definition = cast(dict[str, Any], defs[name])
        properties = cast(dict[str, Any], definition.get("properties") or {})
        fields = {
            key: prop if key in keep else {k: v for k, v in cast(dict[str, Any], prop).items() if k != "description"}
            for key, prop in properties.items()
        }
        trimmed[name] = {**definition, "description": note, "properties": fields}
    return {**schema, "$defs": trimmed} if defs else schema
