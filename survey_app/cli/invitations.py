"""Commands of the invitations feature."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
