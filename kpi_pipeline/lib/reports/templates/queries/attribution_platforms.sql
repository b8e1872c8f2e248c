-- Social platforms in the period's journeys: per platform the purchases and revenue it
-- gets under each model (attribution.daily_reporting, revenue in the reporting
-- currency), and the conversions of every type whose
-- journey it touched and those it assisted: touched without getting the last non-direct
-- click (from the journeys' touches in attribution.credits, each conversion counted once
-- per platform however many of its touches the platform had).
-- Params: $period_start, $period_end.
WITH credited AS (
    SELECT platform, model, sum(conversions) FILTER (WHERE conversion_type = 'purchase')
               AS purchases,
           sum(revenue_reporting) AS revenue
    FROM attribution.daily_reporting
    WHERE day BETWEEN $period_start AND $period_end
      AND channel IN ('organic_social', 'paid_social') AND platform <> ''
    GROUP BY ALL
), touched AS (
    SELECT DISTINCT conversion_id, platform FROM attribution.credits
    WHERE conversion_date BETWEEN $period_start AND $period_end AND model = 'linear'
      AND channel IN ('organic_social', 'paid_social') AND platform IS NOT NULL
), last_click AS (
    SELECT conversion_id, platform AS last_platform FROM attribution.credits
    WHERE conversion_date BETWEEN $period_start AND $period_end
      AND model = 'last_non_direct' AND credit > 0
), assists AS (
    SELECT t.platform, count(*) AS touched,
           count(*) FILTER (WHERE l.last_platform IS DISTINCT FROM t.platform) AS assisted
    FROM touched t LEFT JOIN last_click l USING (conversion_id)
    GROUP BY ALL
)
SELECT c.platform, c.model, c.purchases, c.revenue, a.touched, a.assisted
FROM credited c LEFT JOIN assists a USING (platform)
ORDER BY c.platform, c.model
