"""The slice of Windows PowerShell 5.1's language the lab runs: commands, literal arguments, ``;`` and pipes.

``parse_script`` turns a script into statements (pipelines of commands with their arguments) before anything
runs, as PowerShell parses a whole script first. What it cannot represent faithfully is never guessed at:
text PowerShell itself rejects is a ``ParseError`` with PowerShell's error id and message (ParserStrings of
System.Management.Automation), and valid syntax the lab does not evaluate (variables, subexpressions, script
blocks, splatting, redirection, escapes, keywords, expressions) fails with ``LabNotServed`` naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .engine import ErrorInfo


class PSFailure(Exception):
    """A terminating error: the pipeline stops and its state is Failed."""

    def __init__(self, info: ErrorInfo, partial: list[Any] | None = None) -> None:
        super().__init__(info.message)
        self.info = info
        self.partial: list[Any] = partial or []  # what was written before the failure


def parse_error(error_id: str, message: str) -> PSFailure:
    # PowerShell's message also starts with the position ("At line:1 char:14" and the line, underlined);
    # the lab gives the error id and the text after it.
    return PSFailure(ErrorInfo(message=message, fully_qualified_error_id=error_id, category="ParserError",
                               exception_type="System.Management.Automation.ParseException"))


def not_served(what: str) -> PSFailure:
    """Valid PowerShell the lab will not evaluate, rather than answer it wrongly."""
    return PSFailure(ErrorInfo(
        message=(f"The lab cannot evaluate {what} faithfully, so it refuses the script; it runs only the "
                 "commands and syntax listed under 'What the lab serves' in docs/scenarios.md."),
        fully_qualified_error_id="LabNotServed", category="NotImplemented",
        exception_type="System.NotSupportedException"))


@dataclass(frozen=True)
class Arg:
    """One argument as written: ``-Name`` (``name``, ``value`` only for ``-Name:value``) or a value."""

    name: str | None = None
    value: Any = None
    has_value: bool = False  # a value is present (for ``-Name``: it was given as ``-Name:value``)
    text: str = ""


@dataclass(frozen=True)
class Element:
    """One command of a pipeline."""

    name: str
    args: tuple[Arg, ...]


Pipeline = tuple[Element, ...]

# about_Reserved_Words (5.1) with the workflow/DSC ones: a statement starting with one is not a command.
KEYWORDS = frozenset({
    "begin", "break", "catch", "class", "configuration", "continue", "data", "define", "do",
    "dynamicparam", "else", "elseif", "end", "enum", "exit", "filter", "finally", "for", "foreach", "from",
    "function", "hidden", "if", "in", "inlinescript", "parallel", "param", "process", "return", "sequence",
    "static", "switch", "throw", "trap", "try", "until", "using", "var", "while", "workflow",
})

_NUMBER = re.compile(r"^(?:0[xX](?P<hex>[0-9a-fA-F]+)"
                     r"|(?P<dec>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))"
                     r"(?P<suffix>[ld])?(?P<mult>kb|mb|gb|tb|pb)?$", re.IGNORECASE)
_MULTIPLIERS = {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40, "pb": 1 << 50}
_WORD_END = set(" \t\r\n;|&(){},<>")
_SMART_QUOTES = set("\u2018\u2019\u201a\u201b\u201c\u201d\u201e")
_DASHES = set("\u2013\u2014\u2015")
_PARAMETER = re.compile(r"-(?P<name>[A-Za-z_?][A-Za-z0-9_?]*)(?P<colon>:)?")


def number(text: str) -> int | float | None:
    """A numeric literal as PowerShell reads an argument (``5``, ``0x10``, ``1.5``, ``2kb``, ``5l``)."""
    match = _NUMBER.match(text[1:] if text[:1] in "+-" else text)
    if match is None:
        return None
    if (match["suffix"] or "").lower() == "d":
        raise not_served(f"the [decimal] literal '{text}'")
    value: int | float
    if match["hex"]:
        value = int(match["hex"], 16)
        # Hexadecimal literals are Int32, else Int64, read as two's complement: 0xFFFFFFFF is -1.
        for bits in (32, 64):
            if value < 2**bits:
                value = value - 2**bits if value >= 2 ** (bits - 1) else value
                break
        else:
            raise not_served(f"the hexadecimal literal '{text}' (wider than 64 bits)")
    elif re.fullmatch(r"\d+", match["dec"]):
        value = int(match["dec"])
    else:
        value = float(match["dec"])
    if match["mult"]:
        value = value * _MULTIPLIERS[match["mult"].lower()]
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise not_served(f"the literal '{text}' (beyond Int64 PowerShell makes it a decimal or double)")
    return -value if text.startswith("-") else value


@dataclass(frozen=True)
class _Token:
    kind: str  # word, string, value (number/$true/$false/$null), param, comma, pipe, end
    text: str
    value: Any = None


class _Lexer:
    def __init__(self, script: str) -> None:
        self.s = script
        self.i = 0
        self.tokens: list[_Token] = []

    def _emit_end(self) -> None:
        # A newline right after a pipe continues the pipeline; repeated separators are one.
        if self.tokens and self.tokens[-1].kind not in ("end", "pipe"):
            self.tokens.append(_Token("end", ";"))

    def _closing(self, start: int, opener: str) -> int:
        """Index just after the bracket that closes ``opener`` at ``start`` (quotes skipped), or -1."""
        pairs = {"(": ")", "{": "}", "[": "]"}
        stack = [pairs[opener]]
        i = start + 1
        while i < len(self.s) and stack:
            c = self.s[i]
            if c in "'\"":
                end = self.s.find(c, i + 1)
                if end < 0:
                    return -1
                i = end
            elif c in pairs:
                stack.append(pairs[c])
            elif c == stack[-1]:
                stack.pop()
            i += 1
        return i if not stack else -1

    def _grouping(self, start: int, opener: str, what: str) -> PSFailure:
        if self._closing(start, opener) < 0:
            if opener == "{":
                return parse_error("MissingEndCurlyBrace", "Missing closing '}' in statement block or type "
                                   "definition.")
            if opener == "(":
                return parse_error("MissingEndParenthesisInExpression", "Missing closing ')' in expression.")
            return parse_error("MissingEndSquareBracket", "Missing ']' at end of attribute or type literal.")
        return not_served(what)

    def _single_quoted(self) -> str:
        out, i = [], self.i + 1
        while True:
            end = self.s.find("'", i)
            if end < 0:
                raise parse_error("TerminatorExpectedAtEndOfString",
                                  "The string is missing the terminator: '.")
            out.append(self.s[i:end])
            if self.s.startswith("''", end):
                out.append("'")
                i = end + 2
                continue
            self.i = end + 1
            return "".join(out)

    def _double_quoted(self) -> str:
        i = self.i + 1
        out = []
        while True:
            if i >= len(self.s):
                raise parse_error("TerminatorExpectedAtEndOfString",
                                  'The string is missing the terminator: ".')
            c = self.s[i]
            if c == '"':
                if self.s.startswith('""', i):
                    out.append('"')
                    i += 2
                    continue
                break
            out.append(c)
            i += 1
        text = "".join(out)
        if "$" in text or "`" in text:
            raise not_served("an expandable string (variables, subexpressions or escapes inside \"...\")")
        self.i = i + 1
        return text

    def tokens_of(self) -> list[_Token]:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            nxt = s[self.i + 1] if self.i + 1 < len(s) else ""
            if c in " \t\f\v\u00a0":
                self.i += 1
            elif c in "\r\n;":
                self._emit_end()
                self.i += 1
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end
            elif c == "<" and nxt == "#":
                end = s.find("#>", self.i + 2)
                if end < 0:
                    raise parse_error("MissingTerminatorMultiLineComment",
                                      "The terminator '#>' is missing from the multiline comment.")
                self.i = end + 2
            elif c == "|":
                if nxt == "|":
                    raise parse_error("InvalidEndOfLine", "The token '||' is not a valid statement separator "
                                      "in this version.")
                self.tokens.append(_Token("pipe", "|"))
                self.i += 1
            elif c == "&":
                if nxt == "&":
                    raise parse_error("InvalidEndOfLine", "The token '&&' is not a valid statement separator "
                                      "in this version.")
                raise not_served("the call operator '&'")
            elif c == ",":
                self.tokens.append(_Token("comma", ","))
                self.i += 1
            elif c == "<":
                raise parse_error("RedirectionNotSupported", "The '<' operator is reserved for future use.")
            elif c == ">":
                raise not_served("redirection ('>')")
            elif c in ")}":
                raise parse_error("UnexpectedToken", f"Unexpected token '{c}' in expression or statement.")
            elif c in "({":
                raise self._grouping(self.i, c, "a parenthesised expression '( )'" if c == "(" else
                                     "a script block '{ }'")
            elif c == "`":
                raise not_served("the escape character '`'")
            elif c in _SMART_QUOTES:
                raise not_served("typographic quotation marks")
            elif c in _DASHES:
                raise not_served("a typographic dash (PowerShell reads it as '-')")
            elif c in "'\"":
                start = self.i
                text = self._single_quoted() if c == "'" else self._double_quoted()
                self._no_suffix(start)
                self.tokens.append(_Token("string", s[start:self.i], text))
            elif c == "$":
                self._dollar(nxt)
            elif c == "@":
                if nxt in "({":
                    raise self._grouping(self.i + 1, nxt, "an array or hashtable expression '@( )' / '@{ }'")
                raise not_served("splatting or a here-string ('@...')")
            elif c == "-" and _PARAMETER.match(s, self.i) and not (nxt.isdigit() or nxt == "."):
                self._parameter()
            else:
                self._word()
        if self.tokens and self.tokens[-1].kind == "pipe":
            raise parse_error("EmptyPipeElement", "An empty pipe element is not allowed.")
        self._emit_end()
        return self.tokens

    def _dollar(self, nxt: str) -> None:
        match = re.compile(r"\$(true|false|null)(?![\w:?])", re.IGNORECASE).match(self.s, self.i)
        if match:
            value = {"true": True, "false": False, "null": None}[match[1].lower()]
            self.i = match.end()
            self._no_suffix(match.start())
            self.tokens.append(_Token("value", match[0], value))
        elif nxt == "(":
            raise self._grouping(self.i + 1, "(", "a subexpression '$( )'")
        else:
            raise not_served("variables ('$name')")

    def _no_suffix(self, start: int) -> None:
        """A literal glued to more text (``'a'b``, ``$true.x``) is a compound expression: not served."""
        if self.i < len(self.s) and self.s[self.i] not in _WORD_END:
            end = self.i
            while end < len(self.s) and self.s[end] not in _WORD_END:
                end += 1
            raise not_served(f"the compound argument '{self.s[start:end]}' (a literal joined to more text)")

    def _parameter(self) -> None:
        match = _PARAMETER.match(self.s, self.i)
        assert match is not None
        end = match.end()
        if end < len(self.s) and self.s[end] not in _WORD_END and not match["colon"]:
            raise not_served(f"the argument '{self._word_text()}'")
        self.tokens.append(_Token("param", match[0], (match["name"], bool(match["colon"]))))
        self.i = end

    def _word_text(self) -> str:
        end = self.i
        while end < len(self.s) and self.s[end] not in _WORD_END:
            end += 1
        return self.s[self.i:end]

    def _word(self) -> None:
        text = self._word_text()
        if any(c in text for c in "'\"$`") or any(c in _SMART_QUOTES or c in _DASHES for c in text):
            raise not_served(f"the compound argument '{text}' (quotes, variables or escapes inside a word)")
        if text.startswith("["):
            raise not_served(f"the type literal or cast in '{text}'")
        if text.startswith("--"):
            raise not_served(f"'{text}' (the end-of-parameters marker '--')")
        self.i += len(text)
        value = number(text)
        self.tokens.append(_Token("value" if value is not None else "word", text, text if value is None
                                  else value))


def _operand(token: _Token) -> Any:
    return token.value


def parse_script(script: str) -> list[Pipeline]:
    """Every statement of ``script`` as a pipeline; raises ``PSFailure`` (ParseError or LabNotServed)."""
    tokens = _Lexer(script.lstrip("\ufeff")).tokens_of()
    statements: list[Pipeline] = []
    elements: list[Element] = []
    current: list[_Token] = []
    for token in tokens:
        if token.kind in ("pipe", "end"):
            if not current:
                if token.kind == "pipe" or elements:
                    raise parse_error("EmptyPipeElement", "An empty pipe element is not allowed.")
                continue
            elements.append(_element(current))
            current = []
            if token.kind == "end":
                statements.append(tuple(elements))
                elements = []
        else:
            current.append(token)
    return statements


def _element(tokens: list[_Token]) -> Element:
    head = tokens[0]
    if head.kind != "word":
        raise not_served(f"the expression statement starting with '{head.text}' (only commands are run)")
    if head.text.lower() in KEYWORDS:
        raise not_served(f"the '{head.text}' statement")
    if head.text in (".", "&"):
        raise not_served("dot-sourcing ('. script')")
    args: list[Arg] = []
    i = 1
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "param":
            name, colon = token.value
            if colon:
                if i + 1 >= len(tokens) or tokens[i + 1].kind in ("param", "comma"):
                    args.append(Arg(name=name, text=token.text))  # binding reports the missing argument
                    i += 1
                    continue
                value, i = _value(tokens, i + 1)
                args.append(Arg(name=name, value=value, has_value=True, text=token.text))
                continue
            args.append(Arg(name=name, text=token.text))
            i += 1
        elif token.kind == "comma":
            raise not_served("the unary array operator ','")
        else:
            value, i = _value(tokens, i)
            args.append(Arg(value=value, has_value=True, text=token.text))
    return Element(name=head.text, args=tuple(args))


def _value(tokens: list[_Token], i: int) -> tuple[Any, int]:
    """A literal, or ``a,b,c`` (an array), starting at ``tokens[i]``; returns it and the next index."""
    items = [_operand(tokens[i])]
    i += 1
    while i < len(tokens) and tokens[i].kind == "comma":
        if i + 1 >= len(tokens) or tokens[i + 1].kind in ("comma", "param"):
            raise parse_error("MissingExpressionAfterToken", "Missing expression after ','.")
        items.append(_operand(tokens[i + 1]))
        i += 2
    return (items if len(items) > 1 else items[0]), i
