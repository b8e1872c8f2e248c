-- The social funnel across all platforms for the period, one row per stage in funnel
-- order: exposure -> interactions -> landing-page sessions -> orders -> revenue. Each
-- row has the stage's count (value, unit), the catalogue KPI and part it is read from,
-- and, from the second stage on, the step into it from the stage before: this period's
-- rate (value / previous stage), the same rate pooled over the trailing periods before
-- this one (sum over sum), the relative change against it, and is_leak (true on the one
-- step with the largest shortfall against its trailing rate, if any falls short).
-- Params: $grain, $period_start, $trailing_weeks, $trailing_months, $trailing_quarters.
WITH k AS (
    FROM kpi.weekly UNION ALL BY NAME FROM kpi.monthly UNION ALL BY NAME FROM kpi.quarterly
), stages(stage_order, stage, kpi, part, unit, step) AS (
    VALUES (1, 'exposure', 'engagement_rate', 'denominator', 'count', NULL),
           (2, 'interactions', 'engagement_rate', 'numerator', 'count',
            'Engagement rate (interactions / exposure)'),
           (3, 'sessions', 'landing_page_sessions', 'value', 'count',
            'Sessions per interaction (sessions / interactions)'),
           (4, 'orders', 'order_conversion_rate', 'numerator', 'count',
            'Order conversion rate (orders / sessions)'),
           (5, 'revenue', 'social_revenue', 'value', 'currency',
            'Average order value (revenue / orders)')
), window_bounds AS (
    SELECT CAST(CASE $grain
                WHEN 'week'
                THEN CAST($period_start AS DATE) - to_weeks(CAST($trailing_weeks AS INTEGER))
                WHEN 'quarter'
                THEN CAST($period_start AS DATE) - to_months(3 * CAST($trailing_quarters AS INTEGER))
                ELSE CAST($period_start AS DATE) - to_months(CAST($trailing_months AS INTEGER))
                END AS DATE) AS trailing_start,
           CASE $grain WHEN 'week' THEN CAST($trailing_weeks AS INTEGER)
                       WHEN 'quarter' THEN CAST($trailing_quarters AS INTEGER)
                       ELSE CAST($trailing_months AS INTEGER) END AS trailing_periods
), periods AS (
    SELECT DISTINCT k.period_start
    FROM k, window_bounds w
    WHERE k.grain = $grain AND k.scope = 'all'
      AND k.period_start BETWEEN w.trailing_start AND $period_start
), counts AS (
    SELECT p.period_start, s.stage_order, s.stage, s.kpi, s.part, s.unit, s.step,
           CASE s.part WHEN 'numerator' THEN k.numerator
                       WHEN 'denominator' THEN k.denominator
                       ELSE k.value END AS n
    FROM periods p
    CROSS JOIN stages s
    LEFT JOIN k ON k.grain = $grain AND k.scope = 'all' AND k.period_start = p.period_start
               AND k.kpi = s.kpi
), steps AS (
    SELECT *, lag(n) OVER (PARTITION BY period_start ORDER BY stage_order) AS previous_n
    FROM counts
), funnel AS (
    SELECT stage_order, stage, kpi, part, unit, step,
           max(n) FILTER (WHERE period_start = $period_start) AS value,
           max(previous_n) FILTER (WHERE period_start = $period_start) AS previous_stage_value,
           sum(n) FILTER (WHERE period_start < $period_start AND n IS NOT NULL
                          AND previous_n IS NOT NULL) AS trailing_value,
           sum(previous_n) FILTER (WHERE period_start < $period_start AND n IS NOT NULL
                                   AND previous_n IS NOT NULL) AS trailing_previous_value,
           count(*) FILTER (WHERE period_start < $period_start AND n IS NOT NULL
                            AND previous_n IS NOT NULL) AS trailing_periods_found
    FROM steps
    GROUP BY ALL
), rates AS (
    SELECT *,
           CASE WHEN stage_order > 1 THEN value / nullif(previous_stage_value, 0) END AS rate,
           CASE WHEN stage_order > 1
                THEN trailing_value / nullif(trailing_previous_value, 0) END AS trailing_rate
    FROM funnel
), compared AS (
    SELECT *,
           CASE WHEN trailing_rate <> 0
                THEN (rate - trailing_rate) / abs(trailing_rate) END AS vs_trailing
    FROM rates
)
SELECT c.stage_order, c.stage, c.kpi, c.part, c.unit, c.step, c.value,
       c.previous_stage_value, c.rate,
       CASE WHEN c.stage = 'revenue' THEN 'currency' ELSE 'ratio' END AS rate_unit,
       c.trailing_rate, c.vs_trailing, c.trailing_value, c.trailing_previous_value,
       c.trailing_periods_found, w.trailing_periods, w.trailing_start,
       coalesce(c.vs_trailing < 0, false)
           AND row_number() OVER (ORDER BY c.vs_trailing ASC NULLS LAST, c.stage_order) = 1
           AS is_leak
FROM compared c, window_bounds w
ORDER BY c.stage_order
