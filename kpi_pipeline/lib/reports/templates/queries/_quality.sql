-- Data-quality footer of every page: each normalized table's latest day and its rows
-- inside the period. A source whose latest day is before the period's end is incomplete.
SELECT 'normalized.post_daily' AS source, max(report_date) AS latest,
       count(*) FILTER (WHERE report_date BETWEEN $period_start AND $period_end) AS rows_in_period
FROM normalized.post_daily
UNION ALL
SELECT 'normalized.account_daily', max(report_date),
       count(*) FILTER (WHERE report_date BETWEEN $period_start AND $period_end)
FROM normalized.account_daily
UNION ALL
SELECT 'normalized.ad_daily', max(report_date),
       count(*) FILTER (WHERE report_date BETWEEN $period_start AND $period_end)
FROM normalized.ad_daily
UNION ALL
SELECT 'normalized.web_daily', max(report_date),
       count(*) FILTER (WHERE report_date BETWEEN $period_start AND $period_end)
FROM normalized.web_daily
UNION ALL
SELECT 'normalized.email_daily', max(report_date),
       count(*) FILTER (WHERE report_date BETWEEN $period_start AND $period_end)
FROM normalized.email_daily
ORDER BY source
