"""Campaign charts as SVG, drawn with matplotlib's object API and cached per campaign state.

Only `matplotlib.figure.Figure` is used, never pyplot: pyplot keeps global figures that leak
and bleed between requests in a server. Text that came from customers or imports (item labels,
category names, campaign names) is drawn with parse_math=False, so "$...$" stays literal instead
of becoming mathtext, and usetex is forced off. Text goes into the SVG as <text> elements
(svg.fonttype "none"), which matplotlib XML-escapes, so the labels stay searchable and inert.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from survey_app.services import reporting

# rcParams are process-global; a chart is drawn under these and under a lock, so a concurrent
# request never sees another's settings and nothing a user typed can turn on TeX.
RC: dict[str, Any] = {
    "text.usetex": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "survey_app",
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
COLOURS = {"bar": "#0b5cad", "flag": "#a40e26", "muted": "#57606a"}
_draw_lock = threading.Lock()
_cache = reporting.LRU(256)


@dataclass(frozen=True)
class ChartSpec:
    title: str
    alt: str
    draw: Callable[[int], Figure | None]


def _figure(rows: int) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(6.4, max(2.2, 0.9 + 0.38 * rows)), layout="constrained")
    return figure, figure.subplots()


def _hbar(axes: Axes, labels: list[str], values: list[float], colours: list[str] | None = None) -> None:
    positions = list(range(len(labels)))
    bars = axes.barh(positions, values, color=colours or COLOURS["bar"])
    # Labels are data from customers and imports: never parse them as mathtext.
    axes.set_yticks(positions, labels=labels, parse_math=False)
    axes.invert_yaxis()
    axes.bar_label(bars, labels=[f"{value:g}" for value in values], padding=3)
    axes.margins(x=0.15)


def draw_funnel(campaign_id: int) -> Figure:
    steps = reporting.funnel(campaign_id).steps()
    figure, axes = _figure(len(steps))
    _hbar(axes, [label for label, _ in steps], [count for _, count in steps])
    axes.set_xlabel("customers")
    return figure


def draw_weekly_nps(campaign_id: int) -> Figure | None:
    weeks = reporting.weekly_nps(campaign_id)
    if not weeks:
        return None
    figure = Figure(figsize=(6.4, 3.2), layout="constrained")
    axes = figure.subplots()
    positions = list(range(len(weeks)))
    values = [week.nps.nps or 0.0 for week in weeks]
    below = [value - week.nps.nps_interval.low for value, week in zip(values, weeks)]
    above = [week.nps.nps_interval.high - value for value, week in zip(values, weeks)]
    axes.errorbar(positions, values, yerr=[below, above], fmt="o-", color=COLOURS["bar"],
                  ecolor=COLOURS["muted"], capsize=4)
    axes.axhline(0, color=COLOURS["muted"], linewidth=0.8)
    axes.set_xticks(positions, labels=[week.week.isoformat() for week in weeks], rotation=30, ha="right")
    axes.set_ylim(-100, 100)
    axes.set_ylabel("NPS (95% interval)")
    return figure


def draw_categories(campaign_id: int) -> Figure | None:
    rows = reporting.category_rows(reporting.newest_verdict(campaign_id))
    if not rows:
        return None
    figure, axes = _figure(len(rows))
    _hbar(axes, [name.replace("_", " ") for name, _ in rows], [count for _, count in rows], [COLOURS["flag"]] * len(rows))
    axes.set_xlabel("reports")
    return figure


def draw_items(campaign_id: int) -> Figure | None:
    campaign = reporting.load_campaign(campaign_id)
    if campaign is None or not campaign.items:
        return None
    rows = reporting.item_rows(campaign, reporting.newest_verdict(campaign_id))
    figure, axes = _figure(len(rows))
    _hbar(
        axes, [row.item.label for row in rows], [row.reports.count for row in rows],
        [COLOURS["flag"] if row.flagged else COLOURS["bar"] for row in rows],
    )
    axes.set_xlabel("failure reports")
    axes.set_title(campaign.name, loc="left", parse_math=False)
    return figure


CHARTS: dict[str, ChartSpec] = {
    "funnel": ChartSpec(
        "Funnel", "Horizontal bar chart of customers at each funnel step; the numbers are in the table beside it.",
        draw_funnel,
    ),
    "nps-weekly": ChartSpec(
        "NPS per week", "Line chart of the NPS per week with 95% intervals; the numbers are in the table beside it.",
        draw_weekly_nps,
    ),
    "categories": ChartSpec(
        "Broken-promise categories",
        "Horizontal bar chart of broken-promise reports per category; the numbers are in the table beside it.",
        draw_categories,
    ),
    "items": ChartSpec(
        "Failure reports per promised item",
        "Horizontal bar chart of failure reports per promised item; the numbers are in the table beside it.",
        draw_items,
    ),
}


def to_svg(figure: Figure) -> bytes:
    """Return the figure as SVG bytes without a timestamp, so equal charts are equal bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def render(name: str, campaign_id: int) -> bytes | None:
    """Draw one chart now, without the cache; None when there is nothing to draw."""
    # matplotlib types rc_context keys as a Literal of every rc name; a plain dict is what it takes.
    with _draw_lock, matplotlib.rc_context(RC):  # type: ignore[arg-type]
        figure = CHARTS[name].draw(campaign_id)
        return None if figure is None else to_svg(figure)


def _key(campaign_id: int, name: str) -> tuple[Any, ...]:
    return (reporting.database_identity(), campaign_id, name, reporting.campaign_state(campaign_id))


def campaign_chart(campaign_id: int, name: str) -> bytes | None:
    """Return a chart's SVG, redrawn only when the campaign's verdict or answers changed."""
    if reporting.load_campaign(campaign_id) is None:
        return None
    return _cache.get_or_compute(_key(campaign_id, name), lambda: render(name, campaign_id))


def state_token(campaign_id: int) -> str:
    """Return a short token that changes with the campaign's state, for cache-busting chart URLs."""
    state = repr(reporting.campaign_state(campaign_id)).encode()
    return hashlib.sha256(state).hexdigest()[:12]


def clear_cache() -> None:
    """Forget every drawn chart (tests and benchmarks start cold with this)."""
    _cache.clear()
