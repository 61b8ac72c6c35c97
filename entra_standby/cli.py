"""Command line: ``entra-standby lab serve SCENARIO --write-inventory PATH`` (placeholder)."""


def main() -> int:
    raise SystemExit("not yet implemented")
