"""The UTM hygiene section of a period's data-quality page: the measures of
``lib.normalized.utm_hygiene`` as HTML. Sources, mediums and campaign names are platform
and marketer text: everything is escaped."""

from __future__ import annotations

from functools import cache

from markupsafe import Markup

from kpi_pipeline.lib.normalized.utm_hygiene import HygieneReport

SECTION = """<section class="utm-hygiene" id="utm-hygiene">
<h2>UTM hygiene: social traffic the tagging loses</h2>
<p class="sub">{{ report.first }} to {{ report.last }}, weeks from Monday. Untagged: social
sessions without UTM tags (GA4 took the source from the referrer). Unknown source: sessions
tagged with a social medium from a source neither a tracked platform's spelling nor on
Google's list of social sources. Lost share: both over the social sessions.</p>
<table class="utm-weeks"><thead><tr><th>Week</th><th>Platform</th><th>Social sessions</th>
<th>Untagged</th><th>Unknown source</th><th>Lost share</th></tr></thead><tbody>
{% for row in report.weeks %}
<tr data-week="{{ row.week }}" data-platform="{{ row.platform }}"><td>{{ row.week }}</td>
<td>{{ row.platform }}</td><td>{{ "{:,}".format(row.social_sessions) }}</td>
<td>{{ "{:,}".format(row.untagged_sessions) }}</td>
<td>{{ "{:,}".format(row.unknown_source_sessions) }}</td>
<td>{{ "-" if row.lost_share is none else "{:.1%}".format(row.lost_share) }}</td></tr>
{% else %}<tr><td colspan="6">No social session in these days.</td></tr>
{% endfor %}
</tbody></table>
<h3>UTM values that break the naming convention</h3>
{% if report.naming %}
<table class="utm-naming"><thead><tr><th>Week</th><th>Platform</th><th>Field</th>
<th>Value</th><th>Problem</th><th>Sessions</th></tr></thead><tbody>
{% for issue in report.naming %}
<tr><td>{{ issue.week }}</td><td>{{ issue.platform }}</td><td>{{ issue.field }}</td>
<td><code>{{ issue.value }}</code></td><td>{{ issue.problem }}</td>
<td>{{ "{:,}".format(issue.sessions) }}</td></tr>
{% endfor %}
</tbody></table>
{% else %}<p class="naming-clean">Every tagged social session follows the convention
(lower case, no spaces, a known medium).</p>{% endif %}
<h3>Ad campaigns that never appear in the web data</h3>
{% if report.unmatched %}
<table class="utm-unmatched"><thead><tr><th>Week</th><th>Ad platform</th><th>Campaign</th>
<th>Clicks</th></tr></thead><tbody>
{% for row in report.unmatched %}
<tr><td>{{ row.week }}</td><td>{{ row.platform }}</td><td>{{ row.campaign_name }}</td>
<td>{{ "{:,}".format(row.clicks) }}</td></tr>
{% endfor %}
</tbody></table>
{% else %}<p class="unmatched-clean">Every ad campaign with clicks has its name in the week's
utm_campaign values.</p>{% endif %}
<h3>Unknown sources, ready to paste into utm_sources.yaml</h3>
{% if report.unknown_sources %}
<pre class="paste">{{ report.paste_block() }}</pre>
{% else %}<p class="unknown-clean">No unknown social source.</p>{% endif %}
</section>
"""


@cache
def _section_template():
    from jinja2 import Environment, StrictUndefined

    return Environment(autoescape=True, undefined=StrictUndefined).from_string(SECTION)


def render_section(report: HygieneReport) -> Markup:
    """The data-quality page's section, escaped (sources and campaign names are text)."""
    return Markup(_section_template().render(report=report))
