-- Goal attainment as of the period's last day: one row per goal, the latest as-of day on
-- or before $period_end. For a goal whose window covers that day it is the row as of
-- $period_end; for a goal whose window is over, its last row (the final status). Goals
-- whose window starts later have no row: the page lists them from the goals file.
-- `stale` is true when the latest row is older than min($period_end, window end): the
-- attainment has not been computed that far yet.
-- Every column but the fingerprint: a store whose attainment predates the probability
-- columns (probability, end_p10, end_p90) still renders, without them, until the goal
-- attainment is computed again.
-- Params: $period_end.
SELECT * EXCLUDE (fingerprint),
       as_of < least($period_end, window_end) AS stale
FROM goal.attainment
WHERE as_of <= $period_end
QUALIFY row_number() OVER (PARTITION BY goal_id ORDER BY as_of DESC) = 1
ORDER BY goal_id
