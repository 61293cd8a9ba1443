"""The self-contained HTML report: opens offline, on a laptop or a phone.

The page is ``templates/report.html.j2``, rendered with autoescape: every
text that came from a log (paths, user agents, labels, evidence) is
HTML-escaped by Jinja2, and chart specifications go through its ``tojson``
filter, which escapes ``<``, ``>``, ``&`` and ``'`` so nothing in them can end
the script element. The one raw value is the Vega, Vega-Lite and Vega-Embed
bundle (vl-convert's), inlined once: no CDN, no network.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from markupsafe import Markup

from ..analysis.result import Analysis
from ..lake.engine import Engine
from .templating import render
from .view import report_view


@lru_cache(maxsize=1)
def vega_bundle() -> Markup:
    """The JavaScript bundle, safe to inline in a script element (the only value the template takes raw)."""
    import vl_convert  # heavy (a native JavaScript runtime): only when a report is written

    # the stub marks the snippet as required; at run time it is optional (default: the libraries as globals)
    bundle = vl_convert.javascript_bundle()  # type: ignore[call-arg]
    return Markup(bundle.replace("</script", "<\\/script"))


def render_html(engine: Engine, analysis: Analysis) -> str:
    """The report on ``analysis`` as one HTML page; ``engine`` answers the charts' queries."""
    from . import charts  # altair is heavy: the terminal summary, in this package too, never needs it

    view = report_view(analysis)
    embeds: list[tuple[str, dict[str, Any]]] = []
    ids: list[dict[str, str | None]] = []
    for spike in view.spikes:
        named: dict[str, str | None] = {}
        for name, chart in charts.spike_charts(engine, analysis, spike.report).items():
            cid = None if chart is None else f"chart-{len(embeds) + 1}"
            if cid is not None and chart is not None:
                embeds.append((cid, chart.to_dict()))
            named[name] = cid
        ids.append(named)
    return render("report.html.j2", view=view, charts=ids, embeds=embeds, vega=vega_bundle())
