-- Some KPIs per platform for the period, with last period and the platform's own
-- baseline, so platforms are compared like with like.
-- previous_numerator and previous_denominator are last period's, for the small-base
-- rule of the changes (a change on 1 purchase is not news).
-- Params: $kpis, $grain, $period_start, $previous_start.
WITH k AS (
    FROM kpi.weekly UNION ALL BY NAME FROM kpi.monthly UNION ALL BY NAME FROM kpi.quarterly
), b AS (
    FROM baseline.weekly UNION ALL BY NAME FROM baseline.monthly UNION ALL BY NAME FROM baseline.quarterly
)
SELECT k.kpi, k.platform, k.unit, k.definition, k.value, k.previous_value,
       k.change_vs_previous, coalesce(b.pooled, b.mean) AS baseline,
       k.numerator, k.denominator,
       p.numerator AS previous_numerator, p.denominator AS previous_denominator
FROM k
LEFT JOIN b ON b.grain = k.grain AND b.as_of = k.period_start AND b.kpi = k.kpi
           AND b.scope_key = k.scope_key
LEFT JOIN k AS p ON p.grain = k.grain AND p.period_start = $previous_start
           AND p.kpi = k.kpi AND p.scope_key = k.scope_key
WHERE k.grain = $grain AND k.period_start = $period_start AND k.scope = 'platform'
  AND list_contains($kpis, k.kpi)
ORDER BY list_position($kpis, k.kpi), k.platform
