-- Headline KPIs across all platforms for the period, in the order the page lists them,
-- with last period, the same period a year ago and the baseline snapshot taken at the
-- period's start (pooled sum/sum for ratios, the mean period for counts and money).
-- previous_numerator and previous_denominator are last period's, for the small-base
-- rule of the changes (a change on 1 purchase is not news).
-- Params: $kpis (list of KPI names), $grain, $period_start, $previous_start.
WITH k AS (
    FROM kpi.weekly UNION ALL BY NAME FROM kpi.monthly UNION ALL BY NAME FROM kpi.quarterly
), b AS (
    FROM baseline.weekly UNION ALL BY NAME FROM baseline.monthly UNION ALL BY NAME FROM baseline.quarterly
)
SELECT k.kpi, k.unit, k.value, k.previous_value, k.change_vs_previous,
       k.year_ago_value, k.change_vs_year_ago,
       coalesce(b.pooled, b.mean) AS baseline, b.periods AS baseline_periods,
       p.numerator AS previous_numerator, p.denominator AS previous_denominator,
       k.coverage_days, k.period_days
FROM k
LEFT JOIN b ON b.grain = k.grain AND b.as_of = k.period_start AND b.kpi = k.kpi
           AND b.scope_key = k.scope_key
LEFT JOIN k AS p ON p.grain = k.grain AND p.period_start = $previous_start
           AND p.kpi = k.kpi AND p.scope_key = k.scope_key
WHERE k.grain = $grain AND k.period_start = $period_start AND k.scope = 'all'
  AND list_contains($kpis, k.kpi)
ORDER BY list_position($kpis, k.kpi)
