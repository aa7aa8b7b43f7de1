"""Smaller JSON schemas with the same meaning: every byte of tools/list is read into the model's context."""

from __future__ import annotations

from typing import Any, cast


def compact_schema(schema: dict[str, Any], *, output: bool = False) -> dict[str, Any]:
    """Drop generated titles (and, for outputs, defaults) and write `anyOf [T, null]` as `type: [T, null]`."""
    return cast(dict[str, Any], _compact(schema, output, in_names=False))


def _compact(node: Any, output: bool, in_names: bool) -> Any:
    if isinstance(node, list):
        return [_compact(item, output, False) for item in cast(list[Any], node)]
    if not isinstance(node, dict):
        return node
    mapping = cast(dict[str, Any], node)
    if in_names:  # keys here are property or definition names, not schema keywords
        return {key: _compact(value, output, False) for key, value in mapping.items()}
    result: dict[str, Any] = {}
    for key, value in mapping.items():
        if key == "title" or (output and key == "default"):
            continue
        result[key] = _compact(value, output, in_names=key in ("properties", "$defs"))
    return _nullable(result)


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
