"""Which characters a person does not see but a model reads, and how they are shown: one rule for all text people
wrote that the server passes on (results, messages the API echoes, the human's question, the approval card).

The rule goes by Unicode property, not by a list of ranges: a character is hidden when it is
- a format character (General_Category Cf: bidi controls, zero-width characters, U+0600, U+1D173, U+13430, tags),
- a C1 control or DEL (Cc other than U+0000-U+001F, which JSON escapes itself; Cc is U+0000-U+001F and
  U+007F-U+009F for ever, by Unicode's stability policy),
- a line or paragraph separator (Zl, Zp), a surrogate (Cs) or a private-use character (Co: no agreed meaning),
- a Default_Ignorable_Code_Point (variation selectors U+FE00-FE0F and U+E0100-E01EF, U+034F, the Hangul fillers
  U+115F, U+1160, U+3164, U+FFA0, U+180B-180F, the whole reserved tag block U+E0000-E0FFF, ...),
- or a noncharacter (U+FDD0-FDEF, U+xxFFFE, U+xxFFFF).
One exception keeps emoji intact: U+FE0F (VS16, "show as emoji") right after an Other_Symbol (So) character, such
as the one in "⚠️", stays; any other VS16 (a second one, after a letter, digit or Sm arrow) is escaped. The zero
width joiner inside emoji sequences (U+200D) is Cf and escaped: a family emoji reads as its parts.
A hidden character is shown as `<U+XXXX>` (hex, upper case, at least four digits).

HIDDEN_PATTERN is that rule in the `\\p{...}` syntax that both the `regex` library (Python; it carries its own,
current Unicode data, including Default_Ignorable_Code_Point that the standard library's unicodedata lacks) and
JavaScript (`new RegExp(HIDDEN_PATTERN, "gu")`, ES2018+) read alike, so the HTML approval card can escape
exactly what the server escapes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

import regex

HIDDEN_PATTERN = (
    r"(?<!\p{So})\uFE0F"
    r"|(?!\uFE0F)[\u007F-\u009F\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}"
    r"\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}]"
)
HIDDEN = regex.compile(HIDDEN_PATTERN)
# The notation for one hidden character; JavaScript: "<U+" + cp.toString(16).toUpperCase().padStart(4, "0") + ">".
ESCAPE = regex.compile(r"<U\+([0-9A-F]{4,6})>")


def has_hidden(text: str) -> bool:
    """Whether `text` holds a hidden character. Every result is checked, so the usual cases are cheap: plain
    ASCII is answered without a regex scan, other text by its distinct characters, each looked up once per process
    (only U+FE0F depends on its neighbour: text that has one gets the full scan)."""
    if text.isascii():  # O(1) in CPython: the string knows it is ASCII
        return "\x7f" in text
    chars = set(text)
    if "\ufe0f" in chars:
        return HIDDEN.search(text) is not None
    return any(map(_hidden_char, chars))


@lru_cache(maxsize=8192)
def _hidden_char(char: str) -> bool:
    return HIDDEN.fullmatch(char) is not None


def escaped(text: str) -> str:
    """`text` with every hidden character written as <U+XXXX>."""
    if not has_hidden(text):
        return text
    return HIDDEN.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def shown(value: Any) -> Any:
    """`value` (JSON-like: strings, dicts, lists) with hidden characters escaped in every string and key: text
    that people wrote must not carry anything the user cannot see to the model that reads it."""
    if isinstance(value, str):
        return escaped(value)
    if isinstance(value, dict):
        return {shown(k): shown(v) for k, v in cast(dict[Any, Any], value).items()}
    if isinstance(value, list):
        return [shown(item) for item in cast(list[Any], value)]
    return value


def restored(text: str) -> str:
    """`text` with each <U+XXXX> that stands for a hidden character turned back into it: what `escaped` wrote
    reads back as the original (other <U+XXXX>, such as <U+0041>, stay as written)."""
    if "<U+" not in text:
        return text

    def back(match: regex.Match[str]) -> str:
        code = int(match.group(1), 16)
        char = chr(code) if code <= 0x10FFFF else ""
        return char if char and HIDDEN.fullmatch(char) else match.group()

    return ESCAPE.sub(back, text)
