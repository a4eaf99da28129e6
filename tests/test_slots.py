"""Render once, fill many: the stand-ins are replaced, and nothing else is."""

from __future__ import annotations

import pytest
from markupsafe import escape

from survey_app.slots import Slots


def test_values_go_where_their_stand_ins_stood_and_nowhere_else():
    slots = Slots("token", "comment")
    # Text around the stand-ins may hold the slots' names, or look like a marker of its own.
    rendered = f"<a href=/s/{slots.stand_in('token')}?score=3>token slot{'0' * 16}comment</a>" \
               f"<textarea>{slots.stand_in('comment')}</textarea>"
    parts = slots.split(rendered)
    page = Slots.fill(parts, {"token": "abc", "comment": str(escape("<b>hi</b>"))})
    assert page == f"<a href=/s/abc?score=3>token slot{'0' * 16}comment</a><textarea>&lt;b&gt;hi&lt;/b&gt;</textarea>"


def test_each_process_has_its_own_marker_and_unknown_names_are_refused():
    assert Slots("token").stand_in("token") != Slots("token").stand_in("token")
    with pytest.raises(KeyError):
        Slots("token").stand_in("tokens")
