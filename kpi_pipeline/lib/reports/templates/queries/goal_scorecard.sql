-- Goal attainment as of the period's last day: one row per goal, the latest as-of day on
-- or before $period_end. For a goal whose window covers that day it is the row as of
-- $period_end; for a goal whose window is over, its last row (the final status). Goals
-- whose window starts later have no row: the page lists them from the goals file.
-- `stale` is true when the latest row is older than min($period_end, window end): the
-- attainment has not been computed that far yet.
-- Params: $period_end.
SELECT goal_id, as_of, kpi, scope_key, target_type, window_start, window_end,
       period_start, period_end, unit, actual, target, percent_of_target,
       expected_by_now, projected, baseline, days_elapsed, days_left, status,
       status_rule, leading_indicators,
       as_of < least($period_end, window_end) AS stale
FROM goal.attainment
WHERE as_of <= $period_end
QUALIFY row_number() OVER (PARTITION BY goal_id ORDER BY as_of DESC) = 1
ORDER BY goal_id
