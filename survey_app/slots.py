"""Render a template once, fill in per-recipient values many times.

The survey page and the invitation emails are the same for many people except for a few values
(a token, a greeting, a CSRF token). Rendering them with Jinja and Babel for every request or
email cost more than everything else in it, so each is rendered once with stand-ins for those
values, split at the stand-ins, and filled per person.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping


class Slots:
    """Named stand-ins for values filled in after rendering.

    A stand-in is letters and digits only, so HTML escaping, url_for and URL quoting leave it as
    it is wherever it stands; it is random per process, so no text rendered around it (a
    campaign's name, an imported subject) can pose as one. The values filled in are never
    rendered or scanned again: whoever calls `fill` escapes them for where they go.
    """

    def __init__(self, *names: str) -> None:
        self.marker = f"slot{secrets.token_hex(8)}"
        self.pattern = re.compile(f"{self.marker}({'|'.join(map(re.escape, names))})")
        self.names = frozenset(names)

    def stand_in(self, name: str) -> str:
        """Return the text to render in place of the value called `name`."""
        if name not in self.names:
            raise KeyError(name)
        return f"{self.marker}{name}"

    def split(self, rendered: str) -> tuple[str, ...]:
        """Return the rendered text as (text, slot name, text, slot name, ..., text)."""
        return tuple(self.pattern.split(rendered))

    @staticmethod
    def fill(parts: tuple[str, ...], values: Mapping[str, str]) -> str:
        """Join split parts with every slot replaced by its value."""
        return "".join([values[part] if index % 2 else part for index, part in enumerate(parts)])
