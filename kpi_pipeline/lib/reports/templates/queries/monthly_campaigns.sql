-- Cost efficiency of each paid social campaign in the period, largest spend first: spend,
-- leads, cost per lead (and its change vs last period), platform-attributed purchases,
-- cost per purchase, revenue and return on ad spend, read from the campaign scope of the
-- KPI tables. The campaign name is the latest one the ad platform reported in the period
-- (untrusted text: the page prints it escaped), and so is its objective (normalized:
-- conversions, leads, traffic, awareness, engagement, other; NULL when not reported),
-- which says whether its spend counts in the conversion-campaign CAC.
-- Params: $grain, $period_start, $period_end.
WITH k AS (
    FROM kpi.weekly UNION ALL BY NAME FROM kpi.monthly UNION ALL BY NAME FROM kpi.quarterly
), names AS (
    SELECT platform, ad_account_id AS account_id, campaign_id,
           arg_max(campaign_name, report_date) AS campaign_name,
           arg_max(objective, report_date) AS objective
    FROM normalized.ad_daily
    WHERE report_date BETWEEN $period_start AND $period_end
    GROUP BY ALL
), campaigns AS (
    SELECT platform, account_id, campaign_id, brand,
           max(value) FILTER (WHERE kpi = 'ad_spend') AS spend,
           max(denominator) FILTER (WHERE kpi = 'cost_per_lead') AS leads,
           max(value) FILTER (WHERE kpi = 'cost_per_lead') AS cost_per_lead,
           max(change_vs_previous) FILTER (WHERE kpi = 'cost_per_lead')
               AS cost_per_lead_change,
           max(denominator) FILTER (WHERE kpi = 'cost_per_purchase') AS purchases,
           max(value) FILTER (WHERE kpi = 'cost_per_purchase') AS cost_per_purchase,
           max(numerator) FILTER (WHERE kpi = 'return_on_ad_spend') AS revenue,
           max(value) FILTER (WHERE kpi = 'return_on_ad_spend') AS return_on_ad_spend
    FROM k
    WHERE k.grain = $grain AND k.period_start = $period_start AND k.scope = 'campaign'
      AND k.kpi IN ('ad_spend', 'cost_per_lead', 'cost_per_purchase', 'return_on_ad_spend')
    GROUP BY ALL
)
SELECT coalesce(n.campaign_name, c.campaign_id) AS campaign, c.campaign_id, c.platform,
       n.objective, c.brand, c.spend, c.leads, c.cost_per_lead, c.cost_per_lead_change, c.purchases,
       c.cost_per_purchase, c.revenue, c.return_on_ad_spend
FROM campaigns c
LEFT JOIN names n USING (platform, account_id, campaign_id)
ORDER BY c.spend DESC NULLS LAST, campaign, c.campaign_id
