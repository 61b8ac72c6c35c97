"""The one strict YAML loader for every file a user writes (inventory, scenarios, waivers).

PyYAML's ``safe_load`` is safe from code execution but not strict: a duplicate key silently keeps the last
value (a second ``pairs:`` drops the first list), aliases expand without bound (a 900-byte "billion laughs"
document becomes gigabytes as soon as anything walks or prints it), 20,000 levels of nesting end in a
``RecursionError``, and a UTF-16 or non-UTF-8 file is a ``UnicodeDecodeError``. ``load_yaml_file`` refuses
each of these with one ``FileKeyError`` line (the caller's subclass) naming the file, where, and the fix,
before any value is built:

- the file must be a regular file of at most ``MAX_BYTES`` (a FIFO or device is never opened for reading);
- UTF-8 only (a BOM-marked UTF-16/32 file is named as such), no NUL bytes;
- keys must be text (``1:``, ``yes:``, ``on:`` are YAML 1.1 numbers and booleans) and duplicate keys in one
  mapping are refused (``<<`` merge keys still override, as YAML intends);
- nesting deeper than ``MAX_DEPTH`` and documents whose aliases would expand beyond ``MAX_NODES`` nodes
  are refused while composing, by counting nodes (shared alias targets counted once per use), so nothing
  is ever expanded to find out.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import FileKeyError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "load_yaml_file", "load_yaml_text"]

MAX_BYTES = 4 * 1024 * 1024  # a 50-pair inventory is ~20 KB; the largest scenario a few KB
MAX_DEPTH = 64  # the deepest real structure (scenario connectors) is under 10 levels
MAX_NODES = 200_000  # nodes after alias expansion; a large inventory has a few thousand

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"


class _Refused(Exception):
    def __init__(self, where: str | None, message: str, fix: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message
        self.fix = fix


def _line(node_or_mark: Any) -> str | None:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    line = getattr(mark, "line", None)
    return f"line {line + 1}" if isinstance(line, int) else None


class _StrictLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            return Composer.compose_node(self, parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(_line(self.peek_event().start_mark),  # type: ignore[no-untyped-call]
                               f"nested more than {MAX_DEPTH} levels deep",
                               "flatten the structure (no real inventory or scenario nests this deep)")
            return Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # PyYAML builds an unquoted 2026-02-30 with datetime() and a 5,000-digit number with int(): their
        # ValueError (or a bad explicit tag's KeyError) would be a traceback naming neither file nor line.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            if isinstance(exc, yaml.YAMLError):
                raise
            shown = _short(node.value) if isinstance(node, ScalarNode) else "a collection"
            detail = _short(str(exc).split(";")[0])
            raise _Refused(_line(node), f"the value {shown} cannot be read as {node.tag.rsplit(':', 1)[-1]} "
                           f"({detail})", "correct it (a date must be a real day), or quote it") from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                if not isinstance(key_node, ScalarNode) or key_node.tag != _STR_TAG:
                    shown = _short(key_node.value) if isinstance(key_node, ScalarNode) else "a collection"
                    raise _Refused(_line(key_node), f"key {shown} is not text (YAML read it as "
                                   f"{key_node.tag.rsplit(':', 1)[-1]})",
                                   "write keys as words; quote a key such as '1', 'yes' or 'on'")
                ident = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if ident in seen:
                    name = _short(key_node.value)
                    raise _Refused(f"line {line}", f"duplicate key '{name}' (first at line {seen[ident]}); "
                                   "YAML would silently keep only the last one",
                                   f"merge the two '{name}' entries into one")
                seen[ident] = line
        return super().construct_mapping(node, deep=deep)


def _short(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= 40 else flat[:37] + "..."


def _expanded_size(root: Node) -> int:
    """Nodes the document would have with every alias expanded, computed on the shared graph (memoised:
    each distinct node once) and capped at ``MAX_NODES + 1``; a node that contains itself is refused."""
    memo: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in memo:
            continue
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        if not children_done:
            if id(node) in open_nodes:
                raise _Refused(_line(node), "an alias refers to a structure that contains it (a cycle)",
                               "remove the recursive alias")
            open_nodes.add(id(node))
            stack.append((node, True))
            for child in children:
                if id(child) in open_nodes:
                    raise _Refused(_line(child), "an alias refers to a structure that contains it (a cycle)",
                                   "remove the recursive alias")
                if id(child) not in memo:
                    stack.append((child, False))
            continue
        open_nodes.discard(id(node))
        memo[id(node)] = min(1 + sum(memo.get(id(c), 1) for c in children), MAX_NODES + 1)
    return memo.get(id(root), 1)


def load_yaml_text(text: str, *, label: str, error: type[FileKeyError]) -> Any:
    """Parse ``text`` strictly (see the module docstring); ``error`` is the caller's ``FileKeyError``."""
    if "\x00" in text:
        raise error("contains NUL bytes: not a text file", path=label,
                    fix="save the file as plain UTF-8 text")
    loader = _StrictLoader(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _expanded_size(node) > MAX_NODES:
                raise _Refused(None, f"expands to more than {MAX_NODES} values through its aliases "
                                     "(a YAML alias bomb?)",
                               "write the values out, or use far fewer nested aliases")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except _Refused as refused:
        raise error(refused.message, path=label, key=refused.where, fix=refused.fix) from None
    except RecursionError:
        raise error(f"nested too deeply (more than {MAX_DEPTH} levels)", path=label,
                    fix="flatten the structure") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None
        problem = _short(getattr(exc, "problem", None) or "invalid YAML")
        raise error(f"not valid YAML: {problem}", path=label, key=where,
                    fix="check indentation and quoting at that position") from None


def read_text_file(path: Path, *, label: str, error: type[FileKeyError], max_bytes: int = MAX_BYTES,
                   what: str = "file", secret: bool = False) -> str:
    """A regular file's UTF-8 text, at most ``max_bytes``; anything else is one ``error`` line.

    A FIFO, device or directory is refused from ``stat`` before any ``open`` (opening a FIFO for reading
    blocks until a writer comes; ``/dev/zero`` never ends).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} was not found", path=label, fix="check the path") from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", path=label, fix="check the path and its rights") \
            from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe or device?)"
        raise error(f"{what} is {kind}", path=label, fix="point to a regular text file")
    if info.st_size > max_bytes:
        raise error(f"{what} is {info.st_size} bytes, more than the {max_bytes} accepted", path=label,
                    fix="point to the right file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", path=label, fix="check the path and its rights") \
            from None
    if len(data) > max_bytes:
        raise error(f"{what} is larger than the {max_bytes} bytes accepted", path=label,
                    fix="point to the right file")
    return decode_utf8(data, label=label, error=error, what=what, secret=secret)


def decode_utf8(data: bytes, *, label: str, error: type[FileKeyError], what: str = "file",
                secret: bool = False) -> str:
    """``data`` as UTF-8 (a UTF-8 BOM is dropped); UTF-16/32 and invalid bytes are named with the line."""
    for bom, name in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                      (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if data.startswith(bom):
            raise error(f"{what} is encoded as {name}", path=label,
                        fix="save it as UTF-8 (e.g. in Notepad: Save as, Encoding: UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        shown = "" if secret else f"byte 0x{data[exc.start]:02x} "  # a secret's bytes are never shown
        raise error(f"{what} is not valid UTF-8 ({shown}on line {line})", path=label,
                    key=None, fix="save it as UTF-8") from None


def load_yaml_file(path: str | os.PathLike[str], *, label: str | None = None,
                   error: type[FileKeyError]) -> Any:
    """Read and strictly parse one YAML file (see the module docstring)."""
    where = label if label is not None else str(path)
    return load_yaml_text(read_text_file(Path(path), label=where, error=error), label=where, error=error)
