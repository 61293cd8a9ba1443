"""The self-contained HTML report: opens offline, on a laptop or a phone.

Everything that came from a log (paths, user agents, labels, evidence) is
HTML-escaped; chart specifications are embedded as JSON with <, > and &
escaped, so nothing in them can end the script element. Vega, Vega-Lite and
Vega-Embed are inlined once (vl-convert's bundle): no CDN, no network.
"""

from __future__ import annotations

import json
from functools import lru_cache
from html import escape

from ..analysis.pipeline import Analysis
from ..analysis.text import anomaly_size, pct
from ..analysis.headline import headline
from .terminal import ENDING_TITLE, score_legend
from . import charts

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2327;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.4em;margin:.2em 0} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
.headline{font-size:1.15em;background:#fff;border-left:5px solid #c0392b;padding:10px 14px;margin:12px 0}
.anomaly{background:#fff3f0;border-left:5px solid #e67e22;padding:8px 14px;margin:8px 0}
.ok{background:#eef8ee;border-left:5px solid #27ae60;padding:8px 14px}
.ending{background:#fffbea;border-left:5px solid #d4a017;padding:8px 14px;margin:8px 0}
.legend{font-size:.85em;margin:4px 0 12px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.92em}
th,td{border-bottom:1px solid #e5e5e5;padding:6px 8px;text-align:left;vertical-align:top}
.chart{width:100%;background:#fff;margin:10px 0;padding:6px 0}
.muted{color:#6b7280} code{font-size:.9em}
ul{margin:.2em 0 .2em 1.2em;padding:0}
@media (max-width:640px){body{font-size:14px} main{padding:8px}
 table,tbody,tr,td{display:block;width:auto} tr:first-child{display:none}
 tr{border-bottom:1px solid #ddd;padding:6px 0} td{border:none;padding:2px 6px}}
"""


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    import vl_convert

    return vl_convert.javascript_bundle().replace("</script", "<\\/script")


def _json_for_script(value) -> str:
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(con, analysis: Analysis) -> str:
    charts_js: list[tuple[str, dict]] = []

    def chart(c) -> str:
        if c is None:
            return ""
        cid = f"chart-{len(charts_js) + 1}"
        charts_js.append((cid, c.to_dict()))
        return f'<div class="chart" id="{cid}"></div>'

    start, end = analysis.window
    parts = [f"<h1>sessionlens report</h1><p class=muted>{escape(f'{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC')}: "
             f"{analysis.requests:,} requests, {analysis.session_errors:,} session errors, bucket {analysis.bucket_seconds}s</p>"]
    if analysis.spikes:
        parts += [f'<div class="headline">{escape(headline(r))}</div>' for r in analysis.spikes]
    elif analysis.verdict in ("no-signal", "no-data"):
        # Never an all-clear where the data cannot show a session problem.
        title = "Cannot judge" if analysis.verdict == "no-signal" else "No data"
        parts.append(f'<div class="headline">{title}: {escape(analysis.verdict_detail(analysis.local))}.</div>')
    else:
        parts.append('<div class="ok">No spike in the session-error rate: it stayed within what is normal for each '
                     f'hour ({escape(analysis.verdict_detail(analysis.local))}).</div>')
    if analysis.still_abnormal:
        # the most actionable fact, next to the headline rather than only in a chart
        items = "".join(f"<li>{escape(line)}</li>" for line in analysis.still_abnormal)
        parts.append(f'<div class="ending"><b>{ENDING_TITLE}:</b><ul>{items}</ul></div>')

    if analysis.anomalies:
        parts.append("<h2>Session anomalies</h2>")
        for a in analysis.anomalies:
            size = anomaly_size(a)
            cause = f" Most likely: <b>{escape(a['explained_by'])}</b>." if a.get("explained_by") else ""
            items = "".join(f"<li>{escape(e)}</li>" for e in a.get("evidence", []))
            parts.append(f'<div class="anomaly"><b>{escape(a["kind"].replace("_", " "))}</b> '
                         f'{escape(a["start"])} – {escape(a.get("end") or "")} ({escape(size)}).{cause}<ul>{items}</ul></div>')

    for r in analysis.spikes:
        s = r.spike
        parts.append(f"<h2>{escape(s.id)}: {escape(f'{s.onset:%Y-%m-%d %H:%M}')} UTC</h2>")
        parts.append(f"<p>From {escape(f'{s.start:%H:%M}')} to {escape(f'{s.end:%H:%M}')} UTC: {s.session_errors:,} session errors in "
                     f"{s.requests:,} requests; peak rate {escape(pct(s.peak_rate))} against {escape(pct(s.baseline_rate))} normally.</p>")
        for note in r.notes:
            parts.append(f'<p class="anomaly">{escape(note)}</p>')
        parts.append(chart(charts.timeline(con, analysis, r)))
        rows = []
        for x in r.suspects:
            role = x.role + (f" ({x.effect})" if x.effect else "")
            ev = "".join(f"<li>{escape(e)}</li>" for e in x.evidence)
            rows.append(f"<tr><td><b>{escape(x.change.id)}</b><br><span class=muted>{escape(x.change.label)}</span></td>"
                        f"<td>{escape(f'{x.change.at:%H:%M}')}</td><td>{escape(role)}</td><td>{x.score:.2f}</td><td><ul>{ev}</ul></td></tr>")
        if rows:
            parts.append("<h3>Changes around it</h3><table><tr><th>change</th><th>at</th><th>role</th><th>score</th>"
                         f"<th>evidence</th></tr>{''.join(rows)}</table>")
            parts.append(f'<p class="legend muted">{escape(score_legend())}</p>')
        parts.append(chart(charts.segments(r)))
        parts.append(chart(charts.host_versions(con, r)))

    embeds = "".join(f"vegaEmbed('#{cid}', {_json_for_script(spec)}, {{actions: false}});" for cid, spec in charts_js)
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>sessionlens report</title><style>{CSS}</style>"
        f"<script>{vega_bundle()}</script></head><body><main>{''.join(parts)}</main>"
        f"<script>{embeds}</script></body></html>"
    )
