"""GA4 report exports (Reports or Explore > Share/Download > CSV).

``ga4_traffic`` (web_daily): a table with the ``Date`` dimension and the session's
source and medium, one row per day and source/medium (and campaign):

- GA4 writes a ``#`` preamble (report name, account, property, ``# Start date:
  YYYYMMDD``, ``# End date: ...``): skipped, and every row's date must lie inside the
  stated range.
- ``Date`` is ``YYYYMMDD`` (``2025-03-01`` also read). Without the Date dimension a row
  covers the whole range and has no day: such an export is not recognised.
- ``Session source / medium`` (``google / cpc``, split at the last `` / ``) or
  ``Session source`` and ``Session medium``; ``Session campaign`` when present, else the
  rows are stored with campaign ``(all)``. A folder must not hold the same property's
  days both with and without the campaign breakdown (the sessions would count twice):
  that fails naming both files.
- A ``Grand total`` row is skipped and counted.
- Stored, with the API's meaning: ``Sessions``, ``Engaged sessions``, ``Views`` ->
  page_views, ``User engagement`` (seconds or ``h:mm:ss``) -> engagement_time_seconds,
  ``Ecommerce purchases`` -> orders, ``Purchase revenue`` -> revenue (the property's
  currency, from the manifest, converted with the dated rates in fx_daily like the API
  rows), ``First time purchasers`` -> new_customers, ``Total purchasers`` ->
  purchasers, and the key events the API reads: ``Key events (sign_up)`` -> sign_ups,
  ``(generate_lead)`` -> leads, ``(qualify_lead)`` -> qualified_leads,
  ``(book_appointment)`` -> booked_calls. bounces = sessions - engaged sessions. Other
  columns (rates, averages, ``Total revenue``, ``Key events`` of all events mixed) are
  listed as ignored. The social platform and paid flag come from the UTM mapping, as for
  the API rows.
"""

from __future__ import annotations

from kpi_pipeline.lib.sources.exports import cells
from kpi_pipeline.lib.sources.exports.formats import ExportFormat, FileRows, Mapper, Metric
from kpi_pipeline.lib.sources.exports.manifest import Resolved
from kpi_pipeline.lib.sources.exports.reading import CsvFile, ExportError

ALL_CAMPAIGNS = "(all)"
GA4_DATES = ("%Y%m%d", "%Y-%m-%d")
METRICS = (
    Metric("sessions", ("Sessions",)),
    Metric("engaged_sessions", ("Engaged sessions",)),
    Metric("page_views", ("Views",)),
    Metric("engagement_time_seconds", ("User engagement",), cells.seconds),
    Metric("orders", ("Ecommerce purchases",)),
    Metric("revenue", ("Purchase revenue",), cells.decimal),
    Metric("new_customers", ("First time purchasers",)),
    Metric("purchasers", ("Total purchasers",)),
    Metric("sign_ups", ("Key events (sign_up)",)),
    Metric("leads", ("Key events (generate_lead)",)),
    Metric("qualified_leads", ("Key events (qualify_lead)",)),
    Metric("booked_calls", ("Key events (book_appointment)",)),
)


def _range(csv: CsvFile, key: str) -> object | None:
    text = next((v for k, v in csv.comments.items() if k.casefold() == key), None)
    if text is None:
        return None
    where = cells.Where(csv.name, 1, f"# {key}")
    return cells.local_datetime(text, where, GA4_DATES).date()


def read_traffic(csv: CsvFile, settings: Resolved) -> FileRows:
    mapper = Mapper(csv, METRICS, {"date": ("Date",),
                                   "source_medium": ("Session source / medium",),
                                   "source": ("Session source",),
                                   "medium": ("Session medium",),
                                   "campaign": ("Session campaign",)})
    mapper.require("date")
    if not mapper.has("source_medium"):
        mapper.require("source", "medium")
    currency = settings.require("currency", "web_daily keeps the property's currency")
    first, last = _range(csv, "start date"), _range(csv, "end date")
    rows, totals, keys = [], [], {}
    for row in csv.rows:
        text, where = mapper.text(row, "date")
        if text is not None and text.strip().casefold().startswith("grand total"):
            totals.append(row.line)
            continue
        day = cells.local_datetime(text, where, GA4_DATES).date()
        if (first and day < first) or (last and day > last):
            raise where.error(f"the day {day} is outside the export's stated range "
                              f"{first}..{last}")
        if mapper.has("source_medium"):
            text, swhere = mapper.text(row, "source_medium")
            value = cells.required_text(text, swhere)
            if " / " not in value:
                raise swhere.error(f"value {text!r} is not 'source / medium'")
            source, medium = (part.strip() for part in value.rsplit(" / ", 1))
        else:
            source = cells.required_text(*mapper.text(row, "source"))
            medium = cells.required_text(*mapper.text(row, "medium"))
        campaign = (cells.required_text(*mapper.text(row, "campaign"))
                    if mapper.has("campaign") else ALL_CAMPAIGNS)
        key = (day, source, medium, campaign)
        if key in keys:
            raise where.error(f"day {day}, source {source!r}, medium {medium!r}, campaign "
                              f"{campaign!r} is also on line {keys[key]}")
        keys[key] = row.line
        values = mapper.values(row)
        sessions, engaged = values["sessions"], values["engaged_sessions"]
        if sessions is not None and engaged is not None and engaged > sessions:
            raise ExportError(csv.name, f"{engaged} engaged sessions is more than the row's "
                              f"{sessions} sessions", line=row.line,
                              column=mapper.found["engaged_sessions"][0])
        bounces = None if sessions is None or engaged is None else sessions - engaged
        rows.append({"_line": row.line, "report_date": day, "source": source,
                     "medium": medium, "campaign": campaign, **values, "bounces": bounces,
                     "currency": currency})
    quirks = {"grand_total_rows_skipped": len(totals),
              "campaign": "by campaign" if mapper.has("campaign") else ALL_CAMPAIGNS}
    split = "source_medium" if mapper.has("source_medium") else None
    return FileRows(rows, mapper.columns(report_date="date", source=split or "source",
                                         medium=split or "medium", campaign="campaign"),
                    quirks, [], mapper.ignored())


FORMATS = (
    ExportFormat("ga4_traffic", "ga4", "web_daily",
                 (("Date",), ("Sessions",), ("Session source / medium", "Session source")),
                 read_traffic, "GA4 report export by Date and session source/medium"),
)
