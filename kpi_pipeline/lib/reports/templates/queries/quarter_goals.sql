-- The goals a quarter touched, one row per goal whose window overlaps the quarter: the
-- goals that closed in it (window end inside the quarter: their last row, the final
-- status) and those that run on into the next quarter (their row as of the quarter's
-- last day, with what is left). `closes` is 'closed' or 'runs on'; `stale` is true when
-- the row is older than min($period_end, window end) (attainment not computed that far).
-- Params: $period_start, $period_end.
SELECT goal_id, as_of, kpi, scope_key, target_type, window_start, window_end, unit,
       actual, target, percent_of_target, projected, days_left, status, status_rule,
       CASE WHEN window_end <= $period_end THEN 'closed' ELSE 'runs on' END AS closes,
       as_of < least($period_end, window_end) AS stale
FROM goal.attainment
WHERE as_of <= $period_end AND window_end >= $period_start AND window_start <= $period_end
QUALIFY row_number() OVER (PARTITION BY goal_id ORDER BY as_of DESC) = 1
ORDER BY closes, window_end, goal_id
