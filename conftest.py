"""Load the entra-standby pytest plugin from a source checkout (the installed pytest11 entry point has the
same name, so pytest registers it once either way)."""

pytest_plugins = ["entra_standby.plugin"]
