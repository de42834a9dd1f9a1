"""The report as one self-contained HTML page: styles, charts (inline SVG) and data inline.

Nothing is loaded from anywhere (no script, font, image or style sheet by address), so the page
opens offline, can be mailed as an attachment and prints to PDF as it looks. Every number sits
in a table cell with its exact value in `data-value` (formatted for reading in the cell), so a
test, or a user's script, can read the figures back. The template lives here, not in a data
file, so it ships with the code whatever the packaging.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import __version__
from .charts import charts, headline, money
from .figures import SECTIONS, Column, Figure

if TYPE_CHECKING:
    from . import Report

# The seed sentences (Coupler.io's pages) each section answers.
SEEDS = {
    "email": ["Export Campaigns to track email performance (open rates, click rates, bounce rates, unsubscribes) "
              "over time and across different campaign types.",
              "When building email dashboards, prefer uniqueopens and uniquelinkclicks over their non-unique "
              "counterparts for calculating open rate and click rate.",
              "Hard bounces indicate permanent delivery failures and should be monitored closely for list hygiene. "
              "Soft bounces are temporary — track them separately rather than combining them into a single "
              "\u201cbounce\u201d metric."],
    "audience": ["Use Lists to monitor subscriber counts per list and track growth trends.",
                 "Filter on deleted = 0 in your destination if you want to exclude deleted contacts."],
    "pipeline": ["Pull Deals to build custom pipeline dashboards that show deals by stage, owner, pipeline, and win "
                 "probability.",
                 "Use the value and currency fields to calculate forecasted revenue per stage.",
                 "If your deal count totals seem low, check whether restricted deals are affecting the export and "
                 "consider using an admin API key."],
    "forms": ["Track Forms to understand lead capture points and connect form submissions to downstream deal "
              "activity."],
}
BIG_TABLE = 25  # rows: a longer table starts folded

CSS = """
.acflow-report{--bg:#ffffff;--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--card:#f6f8fa;--warn-bg:#fff8c5;
 --warn-line:#d4a72c;--accent:#0969da;color:var(--fg);background:var(--bg);
 font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 max-width:1100px;margin:0 auto;padding:24px 20px 48px}
@media (prefers-color-scheme:dark){.acflow-report{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#30363d;
 --card:#161b22;--warn-bg:#2e2a1a;--warn-line:#9e7a1a;--accent:#4493f8}}
html,body{margin:0;background:var(--bg,#fff)}
@media (prefers-color-scheme:dark){html,body{background:#0d1117}}
.acflow-report h1{font-size:1.6em;margin:0 0 4px}
.acflow-report h2{font-size:1.3em;margin:36px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
.acflow-report h3{font-size:1.05em;margin:0 0 8px}
.acflow-report .meta,.acflow-report .how,.acflow-report .seed{color:var(--muted)}
.acflow-report .meta{margin:0 0 2px}
.acflow-report .kpis{display:flex;flex-wrap:wrap;gap:8px;list-style:none;padding:0;margin:12px 0 0}
.acflow-report .kpis li{border:1px solid var(--line);border-radius:6px;padding:4px 10px;background:var(--card)}
.acflow-report nav ol{display:flex;flex-wrap:wrap;gap:4px 18px;list-style:none;padding:0;margin:12px 0 0}
.acflow-report a{color:var(--accent)}
.acflow-report .seed{margin:0 0 12px;font-style:italic}
.acflow-report .seed q{quotes:"\\201C" "\\201D"}
.acflow-report figure{margin:16px 0;padding:14px 16px;border:1px solid var(--line);border-radius:8px;
 background:var(--card)}
.acflow-report svg.chart{display:block;width:100%;height:auto;color:var(--fg);margin:4px 0 10px}
.acflow-report .note{background:var(--warn-bg);border-left:4px solid var(--warn-line);padding:6px 10px;margin:8px 0}
.acflow-report .empty{font-style:italic;margin:6px 0}
.acflow-report .how{font-size:.85em;margin-top:8px}
.acflow-report .scroll{overflow-x:auto}
.acflow-report table{border-collapse:collapse;font-size:.88em;width:100%}
.acflow-report th,.acflow-report td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:left;
 white-space:nowrap}
.acflow-report td.n,.acflow-report th.n{text-align:right;font-variant-numeric:tabular-nums}
.acflow-report details summary{cursor:pointer;color:var(--accent);margin:4px 0}
.acflow-report footer{margin-top:40px;color:var(--muted);font-size:.85em}
@media print{
 .acflow-report{--bg:#fff;--fg:#000;--muted:#444;--line:#bbb;--card:#fff;--warn-bg:#fff;--accent:#000;
  max-width:none;padding:0;font-size:10.5pt}
 html,body{background:#fff}
 .acflow-report nav,.acflow-report details summary{display:none}
 .acflow-report figure{break-inside:avoid;border-color:#bbb}
 .acflow-report h2{break-after:avoid}
 .acflow-report .scroll{overflow:visible}
 .acflow-report td,.acflow-report th{white-space:normal}
}
@page{margin:14mm}
"""

TEMPLATE = """\
{%- macro cell(fig, col, row) -%}
{%- set v = row[col.name] -%}
<td{% if col.kind not in ('text', 'date') %} class="n"{% endif %} data-col="{{ col.name }}" \
data-value="{{ raw(v) }}"{% if col.kind == 'money' %} data-currency="{{ row['currency'] }}"{% endif %}>\
{{ shown(col, v, row) }}</td>
{%- endmacro -%}
<main class="acflow-report" data-account="{{ host }}" data-since="{{ report.window.since }}" \
data-start="{{ raw(report.window.start) }}" data-end="{{ raw(report.window.end) }}" \
data-grain="{{ report.window.grain }}">
<header>
<h1>ActiveCampaign report</h1>
<p class="meta">Account <strong>{{ host }}</strong> · {{ report.window.words() }} \
(by {{ report.window.grain }}, time zone {{ report.window.zone }})</p>
<p class="meta">Made {{ stamp(report.generated_at) }} by acflow {{ version }} from the local mirror; \
{{ freshness }}</p>
<ul class="kpis" title="Headline figures of the sections below, where each says how it was computed">\
{% for line in headline %}<li>{{ line }}</li>{% endfor %}</ul>
<nav><ol>{% for key, name in sections.items() %}<li><a href="#{{ key }}">{{ name }}</a></li>{% endfor %}</ol></nav>
</header>
{% for key, name in sections.items() %}
<section id="{{ key }}">
<h2>{{ name }}</h2>
<p class="seed">Answers: {% for s in seeds[key] %}<q>{{ s }}</q>{% if not loop.last %} {% endif %}{% endfor %}</p>
{% for fig in by_section[key] %}
<figure id="fig-{{ fig.name }}" data-figure="{{ fig.name }}" title="{{ fig.how }}">
<h3>{{ fig.title }}</h3>
{% if fig.note %}<p class="note" data-note="{{ fig.name }}">{{ fig.note }}</p>{% endif %}
{% if fig.empty %}<p class="empty" data-empty="{{ fig.name }}">{{ fig.empty }}</p>
{% else %}
{% for chart in svgs.get(fig.name, []) %}{{ chart | safe }}{% endfor %}
{% set rows = fig.rows() %}
{% set cols = visible(fig) %}
{% if rows | length > big %}<details><summary>Show the {{ rows | length }} rows</summary>{% endif %}
<div class="scroll"><table data-figure="{{ fig.name }}">
<thead><tr>{% for c in cols %}<th{% if c.kind not in ('text', 'date') %} class="n"{% endif %} \
data-col="{{ c.name }}">{{ c.label }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}<tr{% for c in ids(fig) %} data-{{ c.name | replace('_', '-') }}=\
"{{ raw(row[c.name]) }}"{% endfor %}>\
{% for c in cols %}{{ cell(fig, c, row) }}{% endfor %}</tr>
{% endfor %}</tbody></table></div>
{% if rows | length > big %}</details>{% endif %}
{% endif %}
<figcaption class="how">How: {{ fig.how }}</figcaption>
</figure>
{% endfor %}
</section>
{% endfor %}
<footer>Made offline by acflow from the data in {{ mirror_name }}: nothing on this page was loaded from \
anywhere, and no API key is in it. Amounts are in each deal's own currency and never added across \
currencies.</footer>
</main>
"""

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="acflow {{ version }}">
<title>ActiveCampaign report · {{ host }} · {{ report.window.words() }}</title>
<style>{{ css | safe }}</style>
</head>
<body>
{{ body | safe }}
</body>
</html>
"""


def _raw(value: Any) -> str:
    """A value exactly, for data-value: ISO dates, plain decimals, full-precision floats, '' for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _shown(col: Column, value: Any, row: dict[str, Any], grain: str) -> str:
    if value is None:
        return "—"
    kind = col.kind
    if kind == "int":
        return f"{int(value):,}"
    if kind == "rate":
        v = float(value)
        return f"{v:.1%}" if v == 0 or v >= 0.1 else f"{v:.2%}"
    if kind == "money":
        return money(value, str(row.get("currency") or ""))
    if kind == "factor":
        return f"×{float(value):.2f}"
    if kind == "date" and isinstance(value, date):
        return value.strftime("%b %Y") if grain == "month" and col.name == "period" else value.isoformat()
    if col.name == "currency":
        return str(value).upper() or "(none)"
    return str(value)


def _ids(fig: Figure) -> list[Column]:
    return [c for c in fig.columns if c.name == "id" or c.name.endswith("_id") or c.name == "list"]


def _visible(fig: Figure) -> list[Column]:
    hidden = {c.name for c in _ids(fig)}
    return [c for c in fig.columns if c.name not in hidden]


def _freshness(report: Report) -> str:
    synced = {e: t for e, t in report.synced_at.items() if t is not None}
    if not synced:
        return "nothing synced yet."
    oldest = min(synced.values())
    missing = [e for e, t in report.synced_at.items() if t is None]
    text = f"data synced from ActiveCampaign at {_stamp(oldest)} or later"
    return text + (f" ({', '.join(missing)} never synced)." if missing else ".")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def render_html(report: Report, *, fragment: bool = False) -> str:
    """The page; with fragment=True only its <style> and <main> (to embed in another page)."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    host = urlsplit(report.account).netloc or report.account  # a host, never a link: the page names no address
    by_section: dict[str, list[Figure]] = {k: [] for k in SECTIONS}
    for fig in report.figures.values():
        by_section[fig.section].append(fig)
    context = {
        "report": report, "host": host, "version": __version__, "sections": SECTIONS, "seeds": SEEDS,
        "by_section": by_section, "svgs": charts(report), "big": BIG_TABLE, "raw": _raw,
        "shown": lambda col, v, row: _shown(col, v, row, report.window.grain), "ids": _ids, "visible": _visible,
        "stamp": _stamp, "freshness": _freshness(report), "mirror_name": report.mirror.rsplit("/", 1)[-1],
        "css": CSS, "headline": headline(report),
    }
    body = env.from_string(TEMPLATE).render(context)
    if fragment:
        return f"<style>{CSS}</style>\n{body}"
    return env.from_string(PAGE).render({**context, "body": body})
