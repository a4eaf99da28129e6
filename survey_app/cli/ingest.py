"""Commands of the ingest feature."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
