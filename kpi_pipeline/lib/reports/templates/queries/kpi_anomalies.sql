-- KPIs outside their baseline band in the period at the page's grain (the anomaly rules
-- of diagnostic_rules.yaml): one row per KPI and scope, with the value, the baseline's
-- median and median absolute deviation, the band, how many robust deviations the value
-- lies from the median, the base it was judged on and the rule's thresholds.
-- Widest scope first, then the farthest from the median.
-- Params: $grain ('week' | 'month'), $period_start.
WITH anomalies AS (
    FROM diagnostic.weekly_anomalies UNION ALL BY NAME FROM diagnostic.monthly_anomalies
)
SELECT rule, title, diagnosis, action, kpi, scope, scope_key, direction, value,
       baseline_median, baseline_mad, baseline_periods, robust_deviations, band_low,
       band_high, base, deviations, min_relative_change, min_base,
       CASE scope WHEN 'all' THEN 0 WHEN 'brand' THEN 1 WHEN 'platform' THEN 2
                  WHEN 'media_type' THEN 3 WHEN 'account' THEN 4 ELSE 5 END AS scope_rank
FROM anomalies
WHERE grain = $grain AND period_start = $period_start
ORDER BY scope_rank, scope_key, abs(coalesce(robust_deviations, 0)) DESC, kpi
