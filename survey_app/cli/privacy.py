"""Commands of the privacy feature."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
