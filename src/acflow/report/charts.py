"""The report's charts: static SVG from matplotlib, inline in the page.

Why static SVG: the page must open offline, print to PDF and be forwarded as one file; SVG needs
no JavaScript, scales crisply and prints as vectors. Text, axes and grid are drawn in a
placeholder colour replaced by `currentColor`, on a transparent background, so each chart takes
the page's text colour: readable on the light page and the dark one (prefers-color-scheme).
The series colours are mid-tones legible on both.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..catalog import MINOR_UNITS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as Canvas

    from . import Report
    from .figures import Figure

INK = "#010203"  # text, axes and ticks: becomes currentColor
GRID = "#030201"  # grid lines: currentColor, faint
PALETTE = ["#4C8FD6", "#F28E2B", "#3FA372", "#E15759", "#A77BCA", "#D4A82A", "#4BB3B0", "#E77FB3"]
WIDTH, HEIGHT = 8.6, 3.3  # inches; the SVG scales to the page's width
MAX_BARS = 15


def _rc() -> dict[str, Any]:
    from cycler import cycler

    return {
        "svg.fonttype": "none",  # real <text>: selectable, searchable, the page's font
        "font.family": "sans-serif", "font.size": 9,
        "text.color": INK, "axes.labelcolor": INK, "axes.edgecolor": INK, "xtick.color": INK, "ytick.color": INK,
        "axes.titlecolor": INK, "axes.titlesize": 10, "axes.titleweight": "bold", "axes.titlelocation": "left",
        "grid.color": GRID, "grid.alpha": 0.18, "grid.linewidth": 0.8,
        "axes.spines.top": False, "axes.spines.right": False, "axes.prop_cycle": cycler(color=PALETTE),
        "legend.frameon": False, "legend.fontsize": 8, "figure.dpi": 100,
    }


def svg(name: str, draw: Callable[[Canvas], None], *, title: str, height: float = HEIGHT) -> str:
    """A chart drawn by `draw` as inline SVG: no fixed size, colours following the page's."""
    import matplotlib as mpl
    from matplotlib.figure import Figure as Canvas

    with mpl.rc_context({**_rc(), "svg.hashsalt": f"acflow-{name}"}):  # ids unique per chart, stable per run
        canvas = Canvas(figsize=(WIDTH, height), layout="constrained")
        draw(canvas)
        buf = io.StringIO()
        canvas.savefig(buf, format="svg", transparent=True, metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # no XML declaration or DOCTYPE inside HTML
    # nothing that names a web address: namespaces are implied inline in HTML, metadata and comments go
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    text = re.sub(r"<!--.*?-->\s*", "", text, flags=re.DOTALL)
    text = text.replace("xlink:href=", "href=")
    text = re.sub(INK, "currentColor", text, flags=re.IGNORECASE)
    text = re.sub(GRID, "currentColor", text, flags=re.IGNORECASE)
    text = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"',
                  rf'<svg\1 role="img" aria-label="{_attr(title)}" class="chart"', text, count=1)
    return text


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _pct_axis(ax: Axes) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))


def _dates(ax: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _lines(name: str, title: str, periods: Sequence[date], series: dict[str, list[float]], ylabel: str,
           *, percent: bool, xlabel: str) -> str:
    def draw(canvas: Canvas) -> None:
        ax = canvas.add_subplot()
        for label, values in series.items():  # periods without a value are skipped, not drawn as 0
            kept = [(p, v) for p, v in zip(periods, values, strict=True) if v == v]
            ax.plot([p for p, _ in kept], [v for _, v in kept], marker="o", markersize=3, linewidth=1.6,
                    label=label)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        ax.set_ylim(bottom=0)
        if percent:
            _pct_axis(ax)
        _dates(ax)
        if not percent:
            _thousands(ax.yaxis)
        ax.grid(True, axis="y")
        _legend(canvas, len(series))
    return svg(name, draw, title=title)


def _legend(canvas: Canvas, n: int) -> None:
    """Below the plot, never over the data."""
    canvas.legend(loc="outside lower center", ncols=min(n, 4))


def _thousands(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 10 or v == int(v) else f"{v:,.1f}"))


def _hbars(name: str, title: str, labels: list[str], series: dict[str, list[float]], xlabel: str,
           *, percent: bool = False, fmt: Callable[[float], str] | None = None) -> str:
    labels, series = labels[:MAX_BARS], {k: v[:MAX_BARS] for k, v in series.items()}
    height = max(1.6, 0.9 + 0.26 * len(labels) * max(1, len(series)) ** 0.5)

    def draw(canvas: Canvas) -> None:
        ax = canvas.add_subplot()
        n = len(series)
        thick = 0.8 / n
        ys = list(range(len(labels)))
        for i, (label, values) in enumerate(series.items()):
            offs = [y - 0.4 + thick * (i + 0.5) for y in ys]
            bars = ax.barh(offs, values, height=thick * 0.92, label=label)
            if fmt is not None:
                ax.bar_label(bars, labels=[fmt(v) for v in values], padding=3, fontsize=7)
        ax.set_yticks(ys, [_short(x) for x in labels])
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        if percent:
            from matplotlib.ticker import PercentFormatter
            ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        else:
            _thousands(ax.xaxis)
        ax.margins(x=0.14)
        ax.grid(True, axis="x")
        if n > 1:
            _legend(canvas, n)
    return svg(name, draw, title=title, height=height)


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def money(value: Any, currency: str) -> str:
    digits = MINOR_UNITS.get(currency.lower(), 2)
    return f"{Decimal(str(value)):,.{digits}f}" if value is not None else "—"


def charts(report: Report) -> dict[str, list[str]]:
    """Figure name -> its charts (SVG), for the figures that have rows."""
    figs = report.figures
    grain = report.window.grain
    out: dict[str, list[str]] = {}

    def rows(name: str) -> list[dict[str, Any]]:
        f = figs.get(name)
        return f.rows() if f is not None and not f.empty else []

    over = rows("email_over_time")
    if over:
        periods = [r["period"] for r in over]
        pick = {"Unique open rate": "open_rate", "Unique click rate": "click_rate",
                "Click-to-open rate": "click_to_open_rate"}
        out["email_over_time"] = [
            _lines("email-engagement", f"Engagement by {grain}", periods,
                   {k: [_num(r[v]) for r in over] for k, v in pick.items()}, "Rate (% of sends; CTOR: of opens)",
                   percent=True, xlabel=f"{grain.title()} of send date"),
            _lines("email-bounces", f"Hard and soft bounces, unsubscribes by {grain}", periods,
                   {"Hard bounce rate": [_num(r["hard_bounce_rate"]) for r in over],
                    "Soft bounce rate": [_num(r["soft_bounce_rate"]) for r in over],
                    "Unsubscribe rate": [_num(r["unsubscribe_rate"]) for r in over]}, "Rate (% of sends)",
                   percent=True, xlabel=f"{grain.title()} of send date")]
    by_type = rows("email_by_type")
    if by_type:
        out["email_by_type"] = [_hbars(
            "email-types", "Unique open and click rate by campaign type", [str(r["type"]) for r in by_type],
            {"Unique open rate": [_num(r["open_rate"]) for r in by_type],
             "Unique click rate": [_num(r["click_rate"]) for r in by_type]}, "Rate (% of sends)", percent=True,
            fmt=lambda v: f"{v:.1%}")]
    lists = rows("lists")
    if lists:
        out["lists"] = [_hbars("lists", "Subscribed contacts per list", [str(r["name"]) for r in lists],
                               {"Subscribed": [_num(r["subscribed"]) for r in lists]}, "Contacts",
                               fmt=lambda v: f"{v:,.0f}")]
    growth = rows("list_growth")
    if growth:
        out["list_growth"] = [_growth(growth, grain)]
    new = rows("contacts_over_time")
    if new:
        out["contacts_over_time"] = [_columns("contacts-new", f"New contacts by {grain}", [r["period"] for r in new],
                                              {"New contacts": [_num(r["new_contacts"]) for r in new]},
                                              "Contacts", f"{grain.title()} of creation date")]
    open_deals = rows("pipeline_open")
    if open_deals:
        out["pipeline_open"] = _pipeline(open_deals)
    closed = rows("deals_closed_over_time")
    if closed:
        out["deals_closed_over_time"] = [_columns(
            "deals-closed", f"Deals won and lost by {grain}", [r["period"] for r in closed],
            {"Won": [_num(r["won"]) for r in closed], "Lost": [_num(r["lost"]) for r in closed]}, "Deals",
            f"{grain.title()} of last change (mdate)", colors=[PALETTE[2], PALETTE[3]])]
    forms = rows("forms")
    if forms:
        out["forms"] = [_hbars("forms", "Entries per form", [str(r["name"]) for r in forms],
                               {"Entries": [_num(r["entries"]) for r in forms]}, "Entries (all time)",
                               fmt=lambda v: f"{v:,.0f}")]
    return out


def _growth(growth: list[dict[str, Any]], grain: str) -> str:
    """Members per list at the end of each period, for the lists with the most members at the end."""
    last: dict[str, float] = {}
    series: dict[str, list[float]] = {}
    periods = sorted({r["period"] for r in growth})
    for r in growth:
        series.setdefault(str(r["name"]), []).append(_num(r["members"]))
        last[str(r["name"])] = _num(r["members"])
    top = sorted(last, key=lambda k: -last[k])[: len(PALETTE)]
    return _lines("list-growth", f"Members per list at the end of each {grain}", periods,
                  {k: series[k] for k in top}, "Members", percent=False, xlabel=grain.title())


def _columns(name: str, title: str, periods: Sequence[date], series: dict[str, list[float]], ylabel: str,
             xlabel: str, colors: list[str] | None = None) -> str:
    def draw(canvas: Canvas) -> None:
        import matplotlib.dates as mdates

        ax = canvas.add_subplot()
        x = mdates.date2num(list(periods))
        step = (x[1] - x[0]) if len(x) > 1 else 7.0
        width = step * 0.8 / len(series)
        for i, (label, values) in enumerate(series.items()):
            ax.bar(x - step * 0.4 + width * (i + 0.5), values, width=width * 0.95, label=label,
                   color=(colors or PALETTE)[i % len(PALETTE)])
        ax.xaxis_date()
        _dates(ax)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        _thousands(ax.yaxis)
        ax.grid(True, axis="y")
        if len(series) > 1:
            _legend(canvas, len(series))
    return svg(name, draw, title=title)


def _pipeline(rows: list[dict[str, Any]]) -> list[str]:
    """One chart per currency (amounts are never put on one axis across currencies)."""
    by_currency: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_currency.setdefault(str(r["currency"]), []).append(r)
    out = []
    for currency, items in sorted(by_currency.items(), key=lambda kv: -len(kv[1])):
        items = sorted(items, key=lambda r: -_num(r["amount"]))
        code = currency.upper() or "no currency"
        out.append(_hbars(
            f"pipeline-{currency or 'none'}", f"Open deals in {code}: amount and forecast by stage",
            [f"{r['pipeline']} · {r['stage']}" for r in items],
            {"Amount": [_num(r["amount"]) for r in items], "Forecast": [_num(r["forecast"]) for r in items]},
            f"{code} (major units)", fmt=lambda v, c=currency: money(v, c) if v == v else "—"))
    return out


def summary_png(report: Report) -> bytes:
    """The headline figures and the engagement trend on one light image (e-mail clients show PNG inline)."""
    import matplotlib as mpl
    from matplotlib.figure import Figure as Canvas

    lines = headline(report)
    over = [] if report.figures["email_over_time"].empty else report.figures["email_over_time"].rows()
    rc = {**_rc(), "text.color": "#1f2328", "axes.labelcolor": "#1f2328", "axes.edgecolor": "#57606a",
          "xtick.color": "#57606a", "ytick.color": "#57606a", "axes.titlecolor": "#1f2328", "grid.color": "#57606a"}
    with mpl.rc_context(rc):
        canvas = Canvas(figsize=(8, 4), layout="constrained", facecolor="white")
        left, right = canvas.subplots(1, 2, width_ratios=[1, 1.25])
        left.axis("off")
        left.set_title(f"ActiveCampaign report · {report.window.words()}", fontsize=9)
        left.text(0, 0.95, "\n".join(lines), va="top", ha="left", fontsize=8.5, linespacing=1.6,
                  transform=left.transAxes)
        if over:
            periods = [r["period"] for r in over]
            for label, key in (("Unique open rate", "open_rate"), ("Unique click rate", "click_rate")):
                right.plot(periods, [_num(r[key]) for r in over], marker="o", markersize=2.5, label=label)
            right.set_title(f"E-mail engagement by {report.window.grain}")
            right.set_ylabel("Rate (% of sends)")
            right.set_ylim(bottom=0)
            _pct_axis(right)
            _dates(right)
            right.grid(True, axis="y")
            right.legend(loc="upper left")
        else:
            right.axis("off")
            right.text(0.5, 0.5, "No campaign sent in the period", ha="center", va="center")
        buf = io.BytesIO()
        canvas.savefig(buf, format="png", dpi=110, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def headline(report: Report) -> list[str]:
    """A few lines of the report's headline figures (used by the PNG; plain text, no markup)."""
    figs: dict[str, Figure] = report.figures
    out: list[str] = []
    inflation = {r["metric"]: r for r in figs["email_inflation"].rows()} if not figs["email_inflation"].empty else {}
    if inflation:
        sends = sum(int(r["sends"]) for r in figs["email_campaigns"].rows())
        o, c = inflation.get("open rate"), inflation.get("click rate")
        out.append(f"Sends: {sends:,} in {figs['email_campaigns'].table.num_rows} campaigns")
        if o and c:
            out.append(f"Unique open rate {float(o['unique_rate']):.1%} · click rate {float(c['unique_rate']):.1%}")
    contacts = figs["contacts"].rows()
    if contacts:
        r = contacts[0]
        out.append(f"Contacts: {r['active']:,} active, {r['deleted']:,} deleted")
        out.append(f"Bounced (active): {r['hard_bounced']:,} hard, {r['soft_bounced']:,} soft")
    for r in figs["pipeline_totals"].rows()[:4]:
        cur = str(r["currency"])
        out.append(f"Open {cur.upper()}: {r['open_deals']:,} deals, {money(r['open_amount'], cur)} "
                   f"(forecast {money(r['forecast'], cur)})")
    restricted = figs["restricted"].rows()
    if restricted and restricted[0]["restricted_deals"]:
        out.append(f"Restricted deals left out: {restricted[0]['restricted_deals']:,} (use an admin key)")
    return out or ["No data in the mirror for this period."]
