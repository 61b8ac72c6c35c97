"""The verdict people read: per pair READY / NOT READY / UNKNOWN, failures worst first with their fix, and a
scorecard (check x server), for the terminal (one screen) and as Markdown (a CI job summary, a ticket).

Both are rendered from judged results (``results.Judged``) alone, never from pytest's reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .results import Judged, Readiness, Status, by_severity, readiness
from .rules import Severity

__all__ = ["PairVerdict", "Styled", "markdown", "pair_verdicts", "terminal_lines"]

_PREFIX = 43  # "  CRITICAL    aadc02   connector-account   ": what precedes a headline


@dataclass(frozen=True)
class PairVerdict:
    pair: str
    readiness: Readiness
    why: str
    servers: tuple[tuple[str, str], ...]  # (display name, role)
    judged: tuple[Judged, ...]

    def count(self, status: Status) -> int:
        return sum(1 for j in self.judged if j.status is status)


@dataclass(frozen=True)
class Styled:
    """A terminal line and its colour (pytest's TerminalWriter drops colour where unsupported)."""

    text: str
    colour: str | None = None  # red | green | yellow | None
    bold: bool = False


def pair_verdicts(judged: Sequence[Judged],
                  layout: Sequence[tuple[str, Sequence[tuple[str, str]]]],
                  not_audited: str | None = None,
                  catalogue: Mapping[str, int] | None = None) -> list[PairVerdict]:
    """One verdict per pair of ``layout`` (pair, [(display name, role)]), in layout order. ``catalogue``
    (pair -> how many results the full catalogue gives) marks a verdict made from a selection (-k, -m)."""
    verdicts = []
    for pair, servers in layout:
        mine = tuple(j for j in judged if j.pair == pair)
        state, why = readiness(mine)
        if not mine and not_audited:
            why = f"not audited: {not_audited}"
        full = (catalogue or {}).get(pair, 0)
        if mine and len(mine) < full:
            why += f" - PARTIAL: {len(mine)} of {full} results (-k/-m/--deselect selected them)"
        verdicts.append(PairVerdict(pair, state, why, tuple(servers), mine))
    return verdicts


def _tally(verdict: PairVerdict) -> str:
    parts = []
    for status in (Status.FAIL, Status.WARN, Status.ERROR, Status.WAIVED, Status.PASS, Status.SKIP):
        n = verdict.count(status)
        if n:
            parts.append(f"{n} {status.value}")
    return ", ".join(parts) or "no checks ran"


_COLOUR = {Readiness.READY: "green", Readiness.NOT_READY: "red", Readiness.UNKNOWN: "yellow"}


def terminal_lines(verdicts: Sequence[PairVerdict], fail_on: Severity, *,
                   verbose: bool = False, width: int = 120) -> list[Styled]:
    """The end-of-run screen: verdicts, failures worst first with their fix, the scorecard. A finding and
    its fix are cut to one line of ``width`` columns; failure sections and reports carry every word."""
    lines: list[Styled] = []
    room = max(40, width - _PREFIX)

    def cut(text: str, reserve: int = 0) -> str:
        limit = room - reserve
        return text if len(text) <= limit else text[:limit - 3] + "..."

    width = max((len(v.pair) for v in verdicts), default=4)
    for v in verdicts:
        lines.append(Styled(f"{v.pair:<{width}}  {v.readiness!s:<9}  {v.why}", _COLOUR[v.readiness], True))
        lines.append(Styled(f"{'':<{width}}  {'':<9}  {_tally(v)}"))
    gate = f"--fail-on {fail_on}" + (" (every finding fails)" if fail_on is Severity.LOW else
                                     f": findings below {fail_on} are warnings")
    lines.append(Styled(gate))
    problems = [j for j in by_severity(x for v in verdicts for x in v.judged)
                if j.status in (Status.FAIL, Status.ERROR, Status.WARN)]
    multi = len(verdicts) > 1
    if problems:
        lines.append(Styled(""))
        lines.append(Styled("worst first:", bold=True))
    for j in problems:
        label = {Status.FAIL: str(j.severity).upper(), Status.WARN: f"warn:{j.severity}",
                 Status.ERROR: "ERROR"}[j.status]
        colour = "red" if j.status is Status.FAIL else "yellow"
        where = f"{j.pair} {j.where}" if multi else j.where
        lines.append(Styled(f"  {label:<11} {where:<8} {j.check_id:<19} {cut(j.headline())}", colour,
                            j.blocking))
        if j.status is Status.ERROR:
            continue
        more = f" (+{len(j.fixes) - 1} more)" if len(j.fixes) > 1 else ""
        lines.append(Styled(f"  {'':<11} fix: {cut(j.fixes[0] if j.fixes else '', len(more))}{more}"))
        if j.waiver_expired and j.reason:
            lines.append(Styled(f"  {'':<11} {cut(j.reason)}", "yellow"))
    for v in verdicts:
        lines.append(Styled(""))
        lines.extend(_scorecard(v, verbose))
    return lines


def _cell(j: Judged | None) -> str:
    if j is None:
        return ""
    if j.status is Status.FAIL:
        return f"FAIL {j.severity}"
    if j.status is Status.WARN:
        return f"warn {j.severity}"
    return str(j.status)


def _scorecard(v: PairVerdict, verbose: bool) -> list[Styled]:
    columns = ["pair"] + [name for name, _ in v.servers]
    cells: dict[str, dict[str, Judged]] = {}
    for j in v.judged:
        cells.setdefault(j.check_id, {})[j.server or "pair"] = j
    rows = []
    for check_id in sorted(cells):
        row = cells[check_id]
        if not verbose and all(j.status in (Status.PASS, Status.SKIP) for j in row.values()):
            continue
        rows.append((check_id, [_cell(row.get(c)) for c in columns]))
    hidden = len(cells) - len(rows)
    title = f"scorecard {v.pair} (check x server)"
    if hidden:
        title += f"; {hidden} check(s) passed everywhere: -v shows them"
    out = [Styled(title, bold=True)]
    if not rows:
        return out
    widths = [max(len(c), *(len(r[1][i]) for r in rows)) for i, c in enumerate(columns)]
    head = "  ".join(f"{c:<{w}}" for c, w in zip(columns, widths, strict=True))
    out.append(Styled(f"  {'':<19} {head}".rstrip()))
    for check_id, values in rows:
        text = "  ".join(f"{c:<{w}}" for c, w in zip(values, widths, strict=True))
        colour = "red" if any(c.startswith("FAIL") for c in values) else (
            "yellow" if any(c.startswith(("warn", "error")) for c in values) else None)
        out.append(Styled(f"  {check_id:<19} {text}".rstrip(), colour))
    return out


def markdown(verdicts: Sequence[PairVerdict], fail_on: Severity, *, title: str = "entra-standby") -> str:
    """The verdict, every failure with its remediation, and the full scorecard, as GitHub-flavoured
    Markdown (``$GITHUB_STEP_SUMMARY``, a change ticket)."""
    out = [f"## {title}: standby readiness", "",
           f"Severity gate: `--fail-on {fail_on}` (failures below it are warnings). A pair is NOT READY when "
           f"a failure of {max(Severity.HIGH, fail_on)} or worse is on the standby or the pair.", "",
           "| pair | verdict | why | results |", "|---|---|---|---|"]
    for v in verdicts:
        out.append(f"| {_md(v.pair)} | **{v.readiness}** | {_md(v.why)} | {_tally(v)} |")
    for v in verdicts:
        out += ["", f"### {_md(v.pair)}: {v.readiness}", ""]
        problems = [j for j in by_severity(v.judged) if j.status in (Status.FAIL, Status.WARN, Status.ERROR,
                                                                     Status.WAIVED)]
        if problems:
            out += ["| status | severity | server | check | finding | remediation |",
                    "|---|---|---|---|---|---|"]
        for j in problems:
            findings = "<br>".join(_md(line) for line in j.lines) or _md(j.reason or "")
            extra = f"<br>_{_md(j.reason)}_" if j.reason and j.lines else ""
            fix = _md(j.remediation) if j.status is not Status.ERROR else ""
            out.append(f"| {j.status.value} | {j.severity} | {_md(j.where)} | `{j.check_id}` | "
                       f"{findings}{extra} | {fix} |")
        columns = ["pair"] + [name for name, _ in v.servers]
        cells: dict[str, dict[str, Judged]] = {}
        for j in v.judged:
            cells.setdefault(j.check_id, {})[j.server or "pair"] = j
        out += ["", "<details><summary>Scorecard (every check)</summary>", "",
                "| check | " + " | ".join(_md(c) for c in columns) + " |",
                "|---|" + "---|" * len(columns)]
        for check_id in sorted(cells):
            row = " | ".join(_cell(cells[check_id].get(c)) for c in columns)
            out.append(f"| `{check_id}` | {row} |")
        out += ["", "</details>"]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
