-- The recent periods of some KPIs across all platforms, each with the baseline it was
-- compared with (the snapshot as of that period's start), oldest first, and the band of
-- one standard deviation of the snapshot's periods around it (its usual spread), and
-- whether the data covers the period whole.
-- Params: $kpis, $grain, $history_start, $period_start.
WITH k AS (
    FROM kpi.weekly UNION ALL BY NAME FROM kpi.monthly UNION ALL BY NAME FROM kpi.quarterly
), b AS (
    FROM baseline.weekly UNION ALL BY NAME FROM baseline.monthly UNION ALL BY NAME FROM baseline.quarterly
)
SELECT k.period_start, k.kpi, k.unit, k.value, coalesce(b.pooled, b.mean) AS baseline,
       -- a period its data covers only partly (or unknown: computed before coverage)
       coalesce(k.coverage_days < k.period_days, true) AS incomplete,
       coalesce(b.pooled, b.mean) - b.stddev AS band_low,
       coalesce(b.pooled, b.mean) + b.stddev AS band_high
FROM k
LEFT JOIN b ON b.grain = k.grain AND b.as_of = k.period_start AND b.kpi = k.kpi
           AND b.scope_key = k.scope_key
WHERE k.grain = $grain AND k.scope = 'all' AND list_contains($kpis, k.kpi)
  AND k.period_start BETWEEN $history_start AND $period_start
ORDER BY k.kpi, k.period_start
