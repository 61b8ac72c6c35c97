"""The probe text as it travels: whole-line comments, blank lines and indentation left out (issue 13).

Ansible sends its own PowerShell exec wrappers this way (``lib/ansible/executor/powershell/
module_manifest.py``, ``_strip_comments``: "remove comments to reduce the payload size in the exec
wrappers"): lines that start with ``#``, ``<# ... #>`` blocks that start a line, and blank lines are dropped,
line by line; every other line is kept whole and in order. Here the script's first-line marker
(``# entra-standby-probe: NAME``, ``# entra-standby-helpers: common``...) stays, because the lab and a
server's script-block log (event 4104) name the script by it, and so does any ``#requires`` line. Leading
spaces and tabs go too, except on a line that continues the one before it (a backtick at the end).

That rule is only sound where no line break sits inside a string and every ``#`` is known to start a
comment or not. ``assert_strip_safe`` proves it per text and refuses, naming the file and line, whatever it
is not sure of (here-strings, a string left open at a line's end, ``a#b``, an inline ``<# #>``, a backtick
continuation before a dropped line, ``--%``, braced variable names, typographic quotes);
``wire_form`` strips only what passed. No compression or encoding layer: the server sees plain PowerShell
(docs/contracts.md, "What travels").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import EntraStandbyError

__all__ = ["StripUnsafeError", "as_sent", "assert_strip_safe", "probe_sent_alone", "wire_form"]

_MARKER = re.compile(r"# entra-standby-[a-z]+(?:: [A-Za-z0-9_-]+)?")
_REQUIRES = re.compile(r"#requires\b", re.IGNORECASE)
# Typographic quotes are quotes to PowerShell; the scanner does not model them, so it refuses them.
_SMART_QUOTES = frozenset("\u2018\u2019\u201a\u201b\u201c\u201d\u201e")
# Line breaks that str.splitlines() honours and PowerShell does not (or that a lone CR would be).
_ODD_BREAKS = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_INDENT = " \t"


class StripUnsafeError(EntraStandbyError, ValueError):
    """A script whose comments cannot be dropped line by line without risk of changing what it does."""


@dataclass(frozen=True)
class _Line:
    text: str
    keep: bool  # code, the marker or #requires; False: a comment, a block-comment line or blank
    continued: bool  # the line before it ends with a backtick continuation: keep its indentation


def assert_strip_safe(text: str, where: str) -> None:
    """Raise ``StripUnsafeError`` (``where``: the file, e.g. ``probes/os.ps1``, and the line) unless
    dropping ``text``'s whole-line comments and blank lines is certain to leave its meaning unchanged."""
    _classify(text, where)


def wire_form(text: str, where: str = "script") -> str:
    """``text`` without its whole-line comments, comment blocks, blank lines and indentation, the marker
    line and ``#requires`` kept (see the module docstring); ``StripUnsafeError`` unless provably safe."""
    return _wire_form(text, where)


@lru_cache(maxsize=64)
def _wire_form(text: str, where: str) -> str:
    kept = [line.text if line.continued else line.text.lstrip(_INDENT)
            for line in _classify(text, where) if line.keep]
    return "\n".join(kept) + ("\n" if text.endswith("\n") and kept else "")


def _classify(text: str, where: str) -> list[_Line]:
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    result: list[_Line] = []
    in_block = False
    continues = False  # the previous line ended with a backtick continuation
    for number, line in enumerate(lines, 1):
        def refuse(reason: str, line_number: int = number) -> StripUnsafeError:
            return StripUnsafeError(f"{where} line {line_number}: {reason}; its comments cannot be left out "
                                    "safely line by line",
                                    fix="rewrite that line (see entra_standby/probes/wire.py)")

        odd = next((ch for ch in line if ch in _ODD_BREAKS or ch in _SMART_QUOTES), None)
        if odd is not None:
            raise refuse(f"the character U+{ord(odd):04X} (a line break or quote the check does not model)")
        stripped = line.strip(_INDENT)
        if in_block:
            end = stripped.find("#>")
            if end != -1 and end != len(stripped) - 2:
                raise refuse("text after the '#>' that ends a comment block")
            in_block = end == -1
            result.append(_Line(line, False, False))
            continue
        comment = not stripped or stripped.startswith("#") or stripped.startswith("<#")
        if continues and comment:
            raise refuse("a backtick continuation followed by a comment or blank line", number - 1)
        if stripped.startswith("<#"):
            end = stripped.find("#>", 2)
            if end != -1 and end != len(stripped) - 2:
                raise refuse("a '<# ... #>' comment with code or another '#>' on its line")
            in_block = end == -1
            result.append(_Line(line, False, False))
            continue
        if stripped.startswith("#"):
            if "#>" in stripped:
                raise refuse("'#>' in a line comment (outside a comment block)")
            marker = number == 1 and _MARKER.fullmatch(line) is not None
            result.append(_Line(line, marker or _REQUIRES.match(stripped) is not None, False))
            continue
        if not stripped:
            result.append(_Line(line, False, False))
            continue
        reason, ends_continued = _scan_code(line)
        if reason is not None:
            raise refuse(reason)
        result.append(_Line(line, True, continues))
        continues = ends_continued
    if in_block:
        raise StripUnsafeError(f"{where}: a '<#' comment block is never closed",
                               fix="close it with '#>' at the end of a line")
    if continues:
        raise StripUnsafeError(f"{where} line {len(lines)}: the script ends with a backtick continuation",
                               fix="remove the trailing backtick")
    return result


def _scan_code(line: str) -> tuple[str | None, bool]:
    """Scan one code line: (why it is unsafe, or None; whether it ends with a backtick continuation).

    Frames: ``'`` and ``"`` strings, and ``$(`` subexpressions inside double quotes (code again, with its
    parenthesis depth). Every string must close on its own line.
    """
    stack: list[list[str | int]] = []  # ["'"], ['"'], ["(", depth]
    after_space = True  # an unescaped space or tab (or the line start) just before
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        top = stack[-1][0] if stack else None
        if top == "'":
            if ch == "'":
                if i + 1 < n and line[i + 1] == "'":
                    i += 2
                    continue
                stack.pop()
            i += 1
            continue
        if top == '"':
            if ch == "`":
                i += 2
                continue
            if ch == '"':
                if i + 1 < n and line[i + 1] == '"':
                    i += 2
                    continue
                stack.pop()
            elif line.startswith("$$", i):  # the variable $$: in "$$(" the parenthesis is text, no $( opens
                i += 2
                continue
            elif line.startswith("${", i):
                return "a braced variable name ${...}", False
            elif line.startswith("$(", i):
                stack.append(["(", 1])
                i += 2
                after_space = False
                continue
            i += 1
            continue
        # Code: the top level, or a subexpression inside a double-quoted string.
        if ch == "`":
            if i + 1 == n:
                if stack:
                    return "a line that ends inside a double-quoted string's subexpression", False
                return None, True
            i += 2
            after_space = False
            continue
        if ch in "'\"":
            if i > 0 and line[i - 1] == "@":
                return "a here-string (@' or @\")", False
            stack.append([ch])
        elif ch == "#":
            if line.startswith("#>", i):
                return "'#>' outside a whole-line comment block", False
            if i > 0 and line[i - 1] == "<":
                return "an inline '<# ... #>' comment", False
            if stack:
                return "a comment inside a double-quoted string's subexpression", False
            if not after_space:
                return "a '#' right after other text (PowerShell may read it as part of a word)", False
            if "#>" in line[i:]:
                return "'#>' in a line comment", False
            return None, False  # a trailing comment: the rest of the line is not code
        elif ch == "$" and line.startswith("${", i):
            return "a braced variable name ${...}", False
        elif ch == "-" and line.startswith("--%", i):
            return "the stop-parsing token --%", False
        elif stack and ch == "(":
            stack[-1][1] = int(stack[-1][1]) + 1
        elif stack and ch == ")":
            stack[-1][1] = int(stack[-1][1]) - 1
            if stack[-1][1] == 0:
                stack.pop()
        after_space = ch in _INDENT
        i += 1
    if stack:
        kind = {"'": "a single-quoted string", '"': "a double-quoted string"}.get(str(stack[-1][0]),
                                                                               "a double-quoted string")
        return f"a line that ends inside {kind}", False
    return None, False


def as_sent(text: str, where: str) -> str:
    """What travels for ``text``: its ``wire_form``, or ``text`` unchanged when the check refuses it (a
    script is never stripped unless proven safe; the shipped ones are proven in tests/test_wire_form.py)."""
    try:
        return wire_form(text, where)
    except StripUnsafeError:
        return text


def probe_sent_alone(text: str, where: str) -> str:
    """What travels for a script sent on its own (one probe re-run alone): a catalogue probe (its marker
    first, the shipped helpers inside) in its wire form; anything else, actions included, unchanged."""
    from . import without_helpers

    if text.startswith("# entra-standby-probe: ") and without_helpers(text) is not None:
        return as_sent(text, where)
    return text
