-- How much of the period its data covers, for the incomplete-period marks of every page
-- and the report gate. One row per KPI computed across all platforms for the period: its
-- coverage_days (days of the period holding rows of every table the KPI reads) out of
-- period_days. And, for a period whose KPIs are not computed, each normalized table's days
-- with rows in the period (kpi = NULL, source = the table), so an uncomputed period the
-- data covers partly is marked too.
-- Params: $grain, $period_start, $period_end.
WITH k AS (
    FROM kpi.weekly UNION ALL BY NAME FROM kpi.monthly
), days AS (
    SELECT 'post_daily' AS source, count(DISTINCT report_date) FILTER (
               WHERE report_date BETWEEN $period_start AND $period_end) AS covered,
           count(*) AS stored FROM normalized.post_daily
    UNION ALL
    SELECT 'account_daily', count(DISTINCT report_date) FILTER (
               WHERE report_date BETWEEN $period_start AND $period_end), count(*)
    FROM normalized.account_daily
    UNION ALL
    SELECT 'ad_daily', count(DISTINCT report_date) FILTER (
               WHERE report_date BETWEEN $period_start AND $period_end), count(*)
    FROM normalized.ad_daily
    UNION ALL
    SELECT 'web_daily', count(DISTINCT report_date) FILTER (
               WHERE is_social AND report_date BETWEEN $period_start AND $period_end), count(*)
    FROM normalized.web_daily
    UNION ALL
    SELECT 'email_daily', count(DISTINCT report_date) FILTER (
               WHERE report_date BETWEEN $period_start AND $period_end), count(*)
    FROM normalized.email_daily
)
SELECT kpi, NULL AS source, coverage_days, period_days
FROM k WHERE grain = $grain AND period_start = $period_start AND scope = 'all'
UNION ALL
SELECT NULL, source, covered, CAST($period_end - $period_start + 1 AS INTEGER)
FROM days WHERE stored > 0
ORDER BY kpi NULLS LAST, source
