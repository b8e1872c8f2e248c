-- Social's contribution to site revenue: revenue and sessions from social UTM sources
-- (GA4, last click) against all of the site's revenue and sessions, for the period, the
-- period before and the same period a year ago (one row each, this period first).
-- share = social revenue / all revenue (NULL when the site had no revenue).
-- Params: $grain, $period_start, $previous_start, $year_ago_start.
WITH periods(which, period_start) AS (
    VALUES ('this', CAST($period_start AS DATE)),
           ('previous', CAST($previous_start AS DATE)),
           ('year_ago', CAST($year_ago_start AS DATE))
), bounds AS (
    SELECT which, period_start,
           CAST(period_start + CASE $grain WHEN 'week' THEN INTERVAL 7 DAY
                                           WHEN 'quarter' THEN INTERVAL 3 MONTH
                                           ELSE INTERVAL 1 MONTH END - INTERVAL 1 DAY AS DATE)
               AS period_end
    FROM periods
)
SELECT b.which, b.period_start, b.period_end,
       sum(w.revenue_reporting) FILTER (WHERE w.is_social) AS social_revenue,
       sum(w.revenue_reporting) AS site_revenue,
       sum(w.sessions) FILTER (WHERE w.is_social) AS social_sessions,
       sum(w.sessions) AS site_sessions,
       sum(w.revenue_reporting) FILTER (WHERE w.is_social)
           / nullif(sum(w.revenue_reporting), 0) AS share
FROM bounds b
LEFT JOIN normalized.web_daily w ON w.report_date BETWEEN b.period_start AND b.period_end
GROUP BY b.which, b.period_start, b.period_end
ORDER BY b.period_start DESC
