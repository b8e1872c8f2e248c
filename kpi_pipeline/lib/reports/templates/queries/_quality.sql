-- Data-quality footer of every page: each normalized table's first and latest day and its
-- rows inside the period. A source whose data begins after the period's start or ends
-- before its end makes the period incomplete (a day without rows inside the span is not
-- a gap in coverage: ads that did not deliver, say).
SELECT 'normalized.post_daily' AS source, min(report_date) AS earliest, max(report_date) AS latest,
       count(*) FILTER (WHERE report_date BETWEEN $period_start AND $period_end) AS rows_in_period
FROM normalized.post_daily
UNION ALL
SELECT 'normalized.account_daily', min(report_date), max(report_date),
       count(*) FILTER (WHERE report_date BETWEEN $period_start AND $period_end)
FROM normalized.account_daily
UNION ALL
SELECT 'normalized.ad_daily', min(report_date), max(report_date),
       count(*) FILTER (WHERE report_date BETWEEN $period_start AND $period_end)
FROM normalized.ad_daily
UNION ALL
SELECT 'normalized.web_daily', min(report_date), max(report_date),
       count(*) FILTER (WHERE report_date BETWEEN $period_start AND $period_end)
FROM normalized.web_daily
UNION ALL
SELECT 'normalized.email_daily', min(report_date), max(report_date),
       count(*) FILTER (WHERE report_date BETWEEN $period_start AND $period_end)
FROM normalized.email_daily
ORDER BY source
