-- Reference formulation of the KPI layer: every catalogue KPI for ONE grain, long format.
--
-- Written by hand from kpi_pipeline/data/kpi_catalog.yaml and the conventions of the
-- domain brief, independently of kpi_pipeline/lib/kpis (facts.py, compute.py), so that a
-- test can compare the two and catch a mistake made in either. It favours plainness over
-- speed: it reads the whole of each normalized table, spells out each KPI's formula, and
-- keeps no clever generation. Keep it that way; do not import it into production.
--
-- Bound parameters (DuckDB, nothing is substituted into the text):
--   $grain  'week' (ISO Monday-Sunday) or 'month' (calendar month)
--   $first  first period start to return (a Monday / a 1st)
--   $last   last period start to return
--   $ltv_window_days  the lifetime-value window the attribution layer was run with
-- Every period is computed whole from the data, whatever $first and $last are; previous
-- and year-ago values come from the same computation, so no look-back window is needed.
--
-- Decisions the catalogue leaves open, taken here on purpose:
--   * A KPI's `platforms` restrict EVERY scope, not only the platform-bearing ones: the
--     all / brand / media_type figure of a KPI defined for facebook and tiktok sums facebook
--     and tiktok only. Otherwise a platform that does not report the numerator (Instagram
--     has no completions, no organic link clicks) still adds to the denominator.
--   * customer_acquisition_cost is the exception: ad spend is booked on ad platforms (meta,
--     linkedin, tiktok) whose names differ from the organic ones the KPI lists, so CAC takes
--     all ad spend and all social first-time purchasers of the brand (or of all brands).
--     The email KPIs (platforms: [mailchimp]) take every list: email_daily has no platform
--     column and holds Mailchimp lists only.
--   * Coverage: the days of the period on which every normalized table the KPI reads has
--     a row for the scope, on the KPI's platforms (a level's day before the period is not
--     one of them; a post row counts only if its account's posts were pulled the day
--     before too, since a day's activity is the growth over that day's snapshots). A previous or year-ago value is compared only when the data covers
--     every day of both periods; otherwise it is NULL.
--   * A (period, scope) row exists when the KPI's source has at least one row for it on
--     the KPI's platforms, even if every measure there is NULL (its value is then NULL).
--   * lifetime_value is a cohort: the customers (a property's user as attribution keys
--     them) whose earliest purchase falls in the period and whose journey to it ended in a
--     social session (its last touch), each with every purchase of theirs up to
--     $ltv_window_days - 1 days after that earliest purchase's day. Its coverage is the
--     export's days of the period for which that many days later are in the export too
--     (the property's last export day), so a cohort still open is not complete.

WITH
-- ------------------------------------------------------------------ calendar helpers
-- Period of every day that occurs in any source, with its end, previous and year-ago start.
days AS (
    SELECT DISTINCT report_date AS day FROM normalized.post_daily
    UNION SELECT report_date FROM normalized.account_daily
    UNION SELECT report_date FROM normalized.ad_daily
    UNION SELECT report_date FROM normalized.web_daily
    UNION SELECT report_date FROM normalized.email_daily
),
calendar AS (
    SELECT day, CAST(date_trunc($grain, day) AS DATE) AS period_start
    FROM days
),
periods AS (
    SELECT DISTINCT
        period_start,
        CASE $grain WHEN 'week' THEN period_start + 6
                    ELSE last_day(period_start) END AS period_end,
        CASE $grain WHEN 'week' THEN period_start - 7
                    ELSE CAST(period_start - INTERVAL 1 MONTH AS DATE) END AS previous_start,
        CASE $grain WHEN 'week' THEN period_start - 7 * 52
                    ELSE CAST(period_start - INTERVAL 12 MONTH AS DATE) END AS year_ago_start
    FROM calendar
),

-- ------------------------------------------------------------------ source: posts
-- Lifetime snapshots -> what happened on each day: today's snapshot minus the post's
-- previous available snapshot. A post's first snapshot counts whole if the post was
-- published that day, and nothing if it was published before (its earlier lifetime did
-- not happen on the day it was first seen). "Published that day" without the account's
-- zone: no more than 14 hours (UTC+14) before the day begins in UTC.
post_snapshots AS (
    SELECT p.*,
           row_number() OVER (PARTITION BY platform, account_id, post_id
                              ORDER BY report_date) AS snapshot_no
    FROM normalized.post_daily AS p
),
post_seen AS (
    SELECT *,
           snapshot_no = 1 AND published_at + INTERVAL 14 HOUR < report_date AS seen_late
    FROM post_snapshots
),
post_days AS (
    SELECT cur.report_date, cur.brand, cur.platform, cur.account_id, cur.media_type,
           CASE WHEN cur.seen_late THEN cur.views * 0
                ELSE cur.views - coalesce(prev.views, 0) END AS views,
           CASE WHEN cur.seen_late THEN cur.impressions * 0
                ELSE cur.impressions - coalesce(prev.impressions, 0) END AS impressions,
           CASE WHEN cur.seen_late THEN cur.likes * 0
                ELSE cur.likes - coalesce(prev.likes, 0) END AS likes,
           CASE WHEN cur.seen_late THEN cur.comments * 0
                ELSE cur.comments - coalesce(prev.comments, 0) END AS comments,
           CASE WHEN cur.seen_late THEN cur.shares * 0
                ELSE cur.shares - coalesce(prev.shares, 0) END AS shares,
           CASE WHEN cur.seen_late THEN cur.saves * 0
                ELSE cur.saves - coalesce(prev.saves, 0) END AS saves,
           CASE WHEN cur.seen_late THEN cur.link_clicks * 0
                ELSE cur.link_clicks - coalesce(prev.link_clicks, 0) END AS link_clicks,
           CASE WHEN cur.seen_late THEN cur.video_views * 0
                ELSE cur.video_views - coalesce(prev.video_views, 0) END AS video_views,
           CASE WHEN cur.seen_late THEN cur.completions * 0
                ELSE cur.completions - coalesce(prev.completions, 0) END AS completions,
           CASE WHEN cur.seen_late THEN cur.watch_time_seconds * 0
                ELSE cur.watch_time_seconds - coalesce(prev.watch_time_seconds, 0) END
               AS watch_time_seconds
    FROM post_seen AS cur
    LEFT JOIN post_seen AS prev
           ON prev.platform = cur.platform AND prev.account_id = cur.account_id
          AND prev.post_id = cur.post_id AND prev.snapshot_no = cur.snapshot_no - 1
),
post_facts AS (
    SELECT c.period_start, d.*,
           -- LinkedIn still reports impressions; the other platforms report views, and a
           -- row without views (Meta before its switch to views, older Page exports) is
           -- exposed by its impressions.
           CASE WHEN d.platform = 'linkedin' THEN d.impressions
                WHEN d.views IS NOT NULL THEN d.views
                ELSE d.impressions END AS exposure,
           coalesce(d.likes, 0) + coalesce(d.comments, 0) + coalesce(d.shares, 0)
               + coalesce(d.saves, 0) AS interactions,
           -- a day's activity is measured when the account's posts were pulled the day
           -- before as well (else older posts' growth that day is not known)
           EXISTS (SELECT 1 FROM normalized.post_daily AS b
                   WHERE b.platform = d.platform AND b.account_id = d.account_id
                     AND b.report_date = d.report_date - 1) AS pulled_before
    FROM post_days AS d JOIN calendar AS c ON c.day = d.report_date
),
-- Each fact row once per scope it rolls up to; s_* are the scope's own dimensions.
post_scoped AS (
    SELECT 'all' AS scope, 'all' AS scope_key, NULL AS s_brand, NULL AS s_platform,
           NULL AS s_account_id, NULL AS s_media_type, * FROM post_facts
    UNION ALL
    SELECT 'brand', brand, brand, NULL, NULL, NULL, * FROM post_facts
    UNION ALL
    SELECT 'platform', platform, NULL, platform, NULL, NULL, * FROM post_facts
    UNION ALL
    SELECT 'account', concat(platform, '/', account_id), brand, platform, account_id, NULL, *
    FROM post_facts
    UNION ALL
    SELECT 'media_type', media_type, NULL, NULL, NULL, media_type, * FROM post_facts
),

-- ------------------------------------------------------------------ source: accounts
-- One row per account and period in which the account reported at least one day.
-- with the days of the period the account has a row on (its coverage)
account_periods AS (
    SELECT c.period_start, a.brand, a.platform, a.account_id,
           list(DISTINCT a.report_date) AS days
    FROM normalized.account_daily AS a JOIN calendar AS c ON c.day = a.report_date
    GROUP BY c.period_start, a.brand, a.platform, a.account_id
),
account_facts AS (
    SELECT ap.period_start, ap.brand, ap.platform, ap.account_id, ap.days,
           closing.followers AS followers_end,      -- level on the period's last day
           opening.followers AS followers_start,    -- level on the day before its first
           closing.reach_week AS reach_week_last_day  -- platform's own 7-day unique reach
    FROM account_periods AS ap
    JOIN periods AS pe USING (period_start)
    LEFT JOIN normalized.account_daily AS closing
           ON closing.platform = ap.platform AND closing.account_id = ap.account_id
          AND closing.report_date = pe.period_end
    LEFT JOIN normalized.account_daily AS opening
           ON opening.platform = ap.platform AND opening.account_id = ap.account_id
          AND opening.report_date = pe.period_start - 1
),
account_scoped AS (
    SELECT 'all' AS scope, 'all' AS scope_key, NULL AS s_brand, NULL AS s_platform,
           NULL AS s_account_id, * FROM account_facts
    UNION ALL
    SELECT 'brand', brand, brand, NULL, NULL, * FROM account_facts
    UNION ALL
    SELECT 'platform', platform, NULL, platform, NULL, * FROM account_facts
    UNION ALL
    SELECT 'account', concat(platform, '/', account_id), brand, platform, account_id, *
    FROM account_facts
),

-- ------------------------------------------------------------------ source: ads
ad_facts AS (
    SELECT c.period_start, a.report_date, a.brand, a.platform, a.ad_account_id,
           a.campaign_id, a.spend_reporting AS spend, a.revenue_reporting AS revenue, a.impressions,
           a.clicks, a.link_clicks, a.leads, a.purchases, a.objective
    FROM normalized.ad_daily AS a JOIN calendar AS c ON c.day = a.report_date
),
ad_scoped AS (
    SELECT 'all' AS scope, 'all' AS scope_key, NULL AS s_brand, NULL AS s_platform,
           NULL AS s_account_id, NULL AS s_campaign_id, * FROM ad_facts
    UNION ALL
    SELECT 'brand', brand, brand, NULL, NULL, NULL, * FROM ad_facts
    UNION ALL
    SELECT 'platform', platform, NULL, platform, NULL, NULL, * FROM ad_facts
    UNION ALL
    SELECT 'account', concat(platform, '/', ad_account_id), brand, platform, ad_account_id,
           NULL, * FROM ad_facts
    UNION ALL
    SELECT 'campaign', concat(platform, '/', ad_account_id, '/', campaign_id), brand,
           platform, ad_account_id, campaign_id, * FROM ad_facts
),

-- ------------------------------------------------------------------ source: web (social)
web_facts AS (
    SELECT c.period_start, w.report_date, w.brand, w.platform, w.sessions, w.engaged_sessions, w.bounces,
           w.page_views, w.engagement_time_seconds, w.sign_ups, w.leads, w.qualified_leads,
           w.booked_calls, w.orders, w.new_customers, w.revenue_reporting AS revenue,
           -- the revenue of returning customers' orders, estimated row by row
           CASE WHEN w.orders > 0
                THEN w.revenue_reporting * (w.orders - w.new_customers) / w.orders
                WHEN w.orders = 0 THEN 0 END AS returning_revenue
    FROM normalized.web_daily AS w JOIN calendar AS c ON c.day = w.report_date
    WHERE w.is_social
),
web_scoped AS (
    SELECT 'all' AS scope, 'all' AS scope_key, NULL AS s_brand, NULL AS s_platform,
           * FROM web_facts
    UNION ALL
    SELECT 'brand', brand, brand, NULL, * FROM web_facts
    UNION ALL
    SELECT 'platform', platform, NULL, platform, * FROM web_facts
),

-- ------------------------------------------------------------------ source: ads + web
-- Customer acquisition cost: all ad spend beside social first-time purchasers.
-- The conversion-campaign variant counts the spend of rows whose objective is
-- 'conversions'; a row of another objective counts 0, a row with no objective is unknown.
cac_facts AS (
    SELECT period_start, brand, spend,
           CASE WHEN objective IS NULL THEN NULL
                WHEN objective = 'conversions' THEN spend ELSE 0 END AS sales_spend,
           NULL::BIGINT AS new_customers,
           report_date AS ad_day, NULL::DATE AS web_day FROM ad_facts
    UNION ALL
    SELECT period_start, brand, NULL::DOUBLE, NULL::DOUBLE, new_customers, NULL, report_date
    FROM web_facts
),
cac_scoped AS (
    SELECT 'all' AS scope, 'all' AS scope_key, NULL AS s_brand, * FROM cac_facts
    UNION ALL
    SELECT 'brand', brand, brand, * FROM cac_facts
),

-- ------------------------------------------------------------------ source: attribution
-- Purchase revenue credited to social touches under each model (attribution.daily, the
-- attribution layer's own daily sums, checked against a second formulation elsewhere),
-- in the reporting currency here: the property's currency as web_daily reports it, at
-- the day's rate in fx_daily (1 for the reporting currency itself; no rate: unknown).
-- The days the GA4 export holds, per property, are the coverage.
attr_property AS (
    SELECT property_id, min(brand) AS brand, min(currency) AS currency,
           min(reporting_currency) AS reporting_currency
    FROM normalized.web_daily GROUP BY property_id
),
attr_facts AS (
    SELECT c.period_start, a.day AS report_date, p.brand, nullif(a.platform, '') AS platform,
           a.model,
           a.revenue * CASE WHEN p.currency = p.reporting_currency THEN 1 ELSE f.rate END
               AS revenue
    FROM attribution.daily AS a
    JOIN calendar AS c ON c.day = a.day
    LEFT JOIN attr_property AS p ON p.property_id = a.property_id
    LEFT JOIN normalized.fx_daily AS f
           ON f.report_date = a.day AND f.currency = p.currency
          AND f.reporting_currency = p.reporting_currency
    WHERE a.conversion_type = 'purchase' AND a.channel IN ('organic_social', 'paid_social')
),
attr_days AS (
    SELECT DISTINCT c.period_start, e.event_date AS report_date, p.brand
    FROM normalized.web_events AS e
    JOIN calendar AS c ON c.day = e.event_date
    LEFT JOIN attr_property AS p ON p.property_id = e.property_id
),
attr_scoped AS (
    -- a model's revenue per period and scope, with the export's days of that scope
    SELECT 'all' AS scope, 'all' AS scope_key, NULL AS s_brand, NULL AS s_platform,
           period_start, model, sum(revenue) AS revenue
    FROM attr_facts GROUP BY period_start, model
    UNION ALL
    SELECT 'brand', brand, brand, NULL, period_start, model, sum(revenue)
    FROM attr_facts WHERE brand IS NOT NULL GROUP BY brand, period_start, model
    UNION ALL
    SELECT 'platform', platform, NULL, platform, period_start, model, sum(revenue)
    FROM attr_facts WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY platform, period_start, model
),
attr_coverage AS (
    SELECT 'all' AS scope, 'all' AS scope_key, period_start,
           count(DISTINCT report_date) AS covered
    FROM attr_days GROUP BY period_start
    UNION ALL
    SELECT 'brand', brand, period_start, count(DISTINCT report_date)
    FROM attr_days WHERE brand IS NOT NULL GROUP BY brand, period_start
    UNION ALL
    -- the export covers every platform's sessions: a platform's days are the export's
    SELECT 'platform', t.platform, d.period_start, count(DISTINCT d.report_date)
    FROM attr_days AS d
    CROSS JOIN (SELECT unnest(['facebook', 'instagram', 'linkedin', 'tiktok']) AS platform) AS t
    GROUP BY t.platform, d.period_start
),
-- every (period, scope) the export or a credit reaches, under every model (0 when none)
attr_kpis AS (
    SELECT v.period_start, v.scope, v.scope_key, m.model,
           coalesce(s.revenue, 0) AS revenue, v.covered
    FROM attr_coverage AS v
    CROSS JOIN (SELECT unnest(['last_click', 'last_non_direct', 'first_touch', 'linear',
                               'position_based', 'time_decay']) AS model) AS m
    LEFT JOIN attr_scoped AS s USING (period_start, scope, scope_key, model)
),

-- ------------------------------------------------------------------ source: customer cohorts
-- Every stored purchase (attribution.conversions) in the reporting currency at its own
-- day's rate; a customer's first purchase is the one no purchase of the same user and
-- property precedes (in time, then by id); its channel is the journey's last touch.
ltv_purchases AS (
    SELECT v.conversion_id, v.property_id, v.user_key, v.conversion_date, v.conversion_ts,
           p.brand,
           v.revenue * CASE WHEN p.currency = p.reporting_currency THEN 1 ELSE f.rate END
               AS revenue
    FROM attribution.conversions AS v
    LEFT JOIN attr_property AS p ON p.property_id = v.property_id
    LEFT JOIN normalized.fx_daily AS f
           ON f.report_date = v.conversion_date AND f.currency = p.currency
          AND f.reporting_currency = p.reporting_currency
    WHERE v.conversion_type = 'purchase'
),
ltv_first AS (
    SELECT a.* FROM ltv_purchases AS a
    WHERE NOT EXISTS (
        SELECT 1 FROM ltv_purchases AS b
        WHERE b.property_id = a.property_id AND b.user_key = a.user_key
          AND (b.conversion_ts < a.conversion_ts
               OR (b.conversion_ts = a.conversion_ts AND b.conversion_id < a.conversion_id)))
),
ltv_last_touch AS (
    SELECT t.conversion_id, t.channel, t.platform
    FROM attribution.credits AS t
    WHERE t.model = 'linear'  -- linear credits every touch of the journey
      AND t.touch = (SELECT max(u.touch) FROM attribution.credits AS u
                     WHERE u.conversion_id = t.conversion_id AND u.model = 'linear')
),
ltv_customers AS (
    SELECT c.period_start, f.conversion_date AS report_date, f.brand, l.platform,
           (SELECT sum(x.revenue) FROM ltv_purchases AS x
            WHERE x.property_id = f.property_id AND x.user_key = f.user_key
              AND x.conversion_date >= f.conversion_date
              AND x.conversion_date < f.conversion_date + $ltv_window_days) AS revenue
    FROM ltv_first AS f
    JOIN ltv_last_touch AS l ON l.conversion_id = f.conversion_id
    JOIN calendar AS c ON c.day = f.conversion_date
    WHERE l.channel IN ('organic_social', 'paid_social')
),
ltv_days AS (
    -- the export's days whose cohort window the property's export reaches to its end
    SELECT DISTINCT c.period_start, e.event_date AS report_date, p.brand
    FROM normalized.web_events AS e
    JOIN calendar AS c ON c.day = e.event_date
    LEFT JOIN attr_property AS p ON p.property_id = e.property_id
    WHERE e.event_date + $ltv_window_days - 1 <= (
        SELECT max(z.event_date) FROM normalized.web_events AS z
        WHERE z.property_id = e.property_id)
),
ltv_scoped AS (
    SELECT 'all' AS scope, 'all' AS scope_key, period_start, sum(revenue) AS revenue,
           count(*) AS customers
    FROM ltv_customers GROUP BY period_start
    UNION ALL
    SELECT 'brand', brand, period_start, sum(revenue), count(*)
    FROM ltv_customers WHERE brand IS NOT NULL GROUP BY brand, period_start
    UNION ALL
    SELECT 'platform', platform, period_start, sum(revenue), count(*)
    FROM ltv_customers WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY platform, period_start
),
ltv_closed AS (
    SELECT 'all' AS scope, 'all' AS scope_key, period_start,
           count(DISTINCT report_date) AS covered
    FROM ltv_days GROUP BY period_start
    UNION ALL
    SELECT 'brand', brand, period_start, count(DISTINCT report_date)
    FROM ltv_days WHERE brand IS NOT NULL GROUP BY brand, period_start
    UNION ALL
    SELECT 'platform', t.platform, d.period_start, count(DISTINCT d.report_date)
    FROM ltv_days AS d
    CROSS JOIN (SELECT unnest(['facebook', 'instagram', 'linkedin', 'tiktok']) AS platform) AS t
    GROUP BY t.platform, d.period_start
),
-- every (period, scope) the export reaches (attr_coverage: the same days and scopes)
ltv_kpis AS (
    SELECT v.period_start, v.scope, v.scope_key, coalesce(s.revenue, 0) AS revenue,
           coalesce(s.customers, 0) AS customers, coalesce(d.covered, 0) AS covered
    FROM attr_coverage AS v
    LEFT JOIN ltv_scoped AS s USING (period_start, scope, scope_key)
    LEFT JOIN ltv_closed AS d USING (period_start, scope, scope_key)
),

-- ------------------------------------------------------------------ source: email lists
-- Members are a level (like followers): the count on the period's last day and on the day
-- before its first day; opt-ins are a daily flow.
email_periods AS (
    SELECT c.period_start, e.brand, e.list_id, sum(e.subscribes) AS subscribes,
           list(DISTINCT e.report_date) AS days
    FROM normalized.email_daily AS e JOIN calendar AS c ON c.day = e.report_date
    GROUP BY c.period_start, e.brand, e.list_id
),
email_facts AS (
    SELECT ep.period_start, ep.brand, ep.list_id, ep.subscribes, ep.days,
           closing.subscribers AS subscribers_end,
           opening.subscribers AS subscribers_start
    FROM email_periods AS ep
    JOIN periods AS pe USING (period_start)
    LEFT JOIN normalized.email_daily AS closing
           ON closing.list_id = ep.list_id AND closing.report_date = pe.period_end
    LEFT JOIN normalized.email_daily AS opening
           ON opening.list_id = ep.list_id AND opening.report_date = pe.period_start - 1
),
email_scoped AS (
    SELECT 'all' AS scope, 'all' AS scope_key, NULL AS s_brand, * FROM email_facts
    UNION ALL
    SELECT 'brand', brand, brand, * FROM email_facts
),

-- ------------------------------------------------------------------ the KPIs
-- One SELECT per KPI, spelled out from the catalogue: its unit, its numerator and
-- denominator as sums over the period and scope, the platforms it is defined for (see the
-- decisions at the top), and whether it is a ratio (a ratio with a zero or NULL denominator
-- is NULL; a count, a total or a level is its numerator).
kpis AS (
    -- ============================== post activity: all, brand, platform, account, media_type
    SELECT period_start, scope, scope_key, 'views' AS kpi, 'count' AS unit,
           sum(views) AS numerator, NULL AS denominator, false AS is_ratio,
           count(DISTINCT report_date) FILTER (WHERE pulled_before) AS coverage_days
    FROM post_scoped WHERE platform IN ('facebook', 'instagram', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'impressions', 'count',
           sum(impressions), NULL, false,
           count(DISTINCT report_date) FILTER (WHERE pulled_before)
    FROM post_scoped WHERE platform IN ('linkedin')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    -- rates over exposure: a row counts in the numerator only if it has an exposure
    SELECT period_start, scope, scope_key, 'share_rate', 'ratio',
           sum(shares) FILTER (WHERE exposure IS NOT NULL), sum(exposure), true,
           count(DISTINCT report_date) FILTER (WHERE pulled_before)
    FROM post_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'engagement_rate', 'ratio',
           sum(interactions) FILTER (WHERE exposure IS NOT NULL), sum(exposure), true,
           count(DISTINCT report_date) FILTER (WHERE pulled_before)
    FROM post_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'likes', 'count',
           sum(likes), NULL, false,
           count(DISTINCT report_date) FILTER (WHERE pulled_before)
    FROM post_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'saves', 'count',
           sum(saves), NULL, false,
           count(DISTINCT report_date) FILTER (WHERE pulled_before)
    FROM post_scoped WHERE platform IN ('instagram')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'shares', 'count',
           sum(shares), NULL, false,
           count(DISTINCT report_date) FILTER (WHERE pulled_before)
    FROM post_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'comments', 'count',
           sum(comments), NULL, false,
           count(DISTINCT report_date) FILTER (WHERE pulled_before)
    FROM post_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'average_watch_time', 'seconds',
           sum(watch_time_seconds), sum(video_views), true,
           count(DISTINCT report_date) FILTER (WHERE pulled_before)
    FROM post_scoped WHERE platform IN ('facebook', 'instagram', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'completion_rate', 'ratio',
           sum(completions), sum(video_views), true,
           count(DISTINCT report_date) FILTER (WHERE pulled_before)
    FROM post_scoped WHERE platform IN ('facebook', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'organic_click_through_rate', 'ratio',
           sum(link_clicks) FILTER (WHERE exposure IS NOT NULL), sum(exposure), true,
           count(DISTINCT report_date) FILTER (WHERE pulled_before)
    FROM post_scoped WHERE platform IN ('facebook', 'linkedin')
    GROUP BY period_start, scope, scope_key

    -- ============================== accounts: all, brand, platform, account
    UNION ALL
    -- Unique reach is never summed: one account, one week.
    SELECT period_start, scope, scope_key, 'reach', 'count',
           sum(reach_week_last_day), NULL, false,
           len(list_distinct(flatten(list(days))))
    FROM account_scoped
    WHERE platform IN ('facebook', 'instagram') AND scope = 'account' AND $grain = 'week'
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'followers', 'count',
           sum(followers_end), NULL, false,
           len(list_distinct(flatten(list(days))))
    FROM account_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'follower_growth_rate', 'ratio',
           sum(followers_end) - sum(followers_start), sum(followers_start), true,
           len(list_distinct(flatten(list(days))))
    FROM account_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key

    -- ============================== ads: all, brand, platform, account, campaign
    UNION ALL
    SELECT period_start, scope, scope_key, 'click_through_rate', 'ratio',
           sum(link_clicks), sum(impressions), true,
           count(DISTINCT report_date)
    FROM ad_scoped WHERE platform IN ('meta', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'ad_link_clicks', 'count',
           sum(link_clicks), NULL, false,
           count(DISTINCT report_date)
    FROM ad_scoped WHERE platform IN ('meta', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'cost_per_click', 'currency',
           sum(spend), sum(link_clicks), true,
           count(DISTINCT report_date)
    FROM ad_scoped WHERE platform IN ('meta', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'cost_per_mille', 'currency',
           sum(spend), sum(impressions) / 1000, true,
           count(DISTINCT report_date)
    FROM ad_scoped WHERE platform IN ('meta', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'ad_spend', 'currency',
           sum(spend), NULL, false,
           count(DISTINCT report_date)
    FROM ad_scoped WHERE platform IN ('meta', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'cost_per_lead', 'currency',
           sum(spend), sum(leads), true,
           count(DISTINCT report_date)
    FROM ad_scoped WHERE platform IN ('meta', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'return_on_ad_spend', 'multiple',
           sum(revenue), sum(spend), true,
           count(DISTINCT report_date)
    FROM ad_scoped WHERE platform IN ('meta', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'cost_per_purchase', 'currency',
           sum(spend), sum(purchases), true,
           count(DISTINCT report_date)
    FROM ad_scoped WHERE platform IN ('meta', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key

    -- ============================== web, social sessions: all, brand, platform
    UNION ALL
    SELECT period_start, scope, scope_key, 'landing_page_sessions', 'count',
           sum(sessions), NULL, false,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'bounce_rate', 'ratio',
           sum(bounces), sum(sessions), true,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'time_on_page', 'seconds',
           sum(engagement_time_seconds), sum(sessions), true,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'pages_per_session', 'ratio',
           sum(page_views), sum(sessions), true,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'signup_conversion_rate', 'ratio',
           sum(sign_ups), sum(sessions), true,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'email_signups', 'count',
           sum(sign_ups), NULL, false,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'leads', 'count',
           sum(leads), NULL, false,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'qualified_leads', 'count',
           sum(qualified_leads), NULL, false,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'lead_quality', 'ratio',
           sum(qualified_leads), sum(leads), true,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'booked_calls', 'count',
           sum(booked_calls), NULL, false,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'order_conversion_rate', 'ratio',
           sum(orders), sum(sessions), true,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'social_revenue', 'currency',
           sum(revenue), NULL, false,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'average_order_value', 'currency',
           sum(revenue), sum(orders), true,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'repeat_customer_rate', 'ratio',
           sum(orders) - sum(new_customers), sum(orders), true,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key
    UNION ALL
    -- a sum of the rows' estimates: revenue x (orders - first-time purchases) / orders
    SELECT period_start, scope, scope_key, 'returning_customer_revenue', 'currency',
           sum(returning_revenue), NULL, false,
           count(DISTINCT report_date)
    FROM web_scoped WHERE platform IN ('facebook', 'instagram', 'linkedin', 'tiktok')
    GROUP BY period_start, scope, scope_key

    -- ============================== email lists (all Mailchimp): all, brand
    UNION ALL
    SELECT period_start, scope, scope_key, 'email_list_growth_rate', 'ratio',
           sum(subscribers_end) - sum(subscribers_start), sum(subscribers_start), true,
           len(list_distinct(flatten(list(days))))
    FROM email_scoped
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'email_opt_ins', 'count',
           sum(subscribes), NULL, false,
           len(list_distinct(flatten(list(days))))
    FROM email_scoped
    GROUP BY period_start, scope, scope_key

    -- ============================== attributed revenue: all, brand, platform
    UNION ALL
    SELECT period_start, scope, scope_key, 'attributed_social_revenue_' || model, 'currency',
           revenue, NULL, false, covered
    FROM attr_kpis

    -- ============================== cohort lifetime value: all, brand, platform
    UNION ALL
    SELECT period_start, scope, scope_key, 'lifetime_value', 'currency',
           revenue, customers, true, covered
    FROM ltv_kpis

    -- ============================== ads + web: all, brand
    UNION ALL
    SELECT period_start, scope, scope_key, 'customer_acquisition_cost', 'currency',
           sum(spend), sum(new_customers), true,
           len(list_intersect(list_distinct(list(ad_day)), list_distinct(list(web_day))))
    FROM cac_scoped
    GROUP BY period_start, scope, scope_key
    UNION ALL
    SELECT period_start, scope, scope_key, 'conversion_cac', 'currency',
           sum(sales_spend), sum(new_customers), true,
           len(list_intersect(list_distinct(list(ad_day)), list_distinct(list(web_day))))
    FROM cac_scoped
    GROUP BY period_start, scope, scope_key
),

-- ------------------------------------------------------------------ values and comparisons
-- The dimensions a scope key stands for (brand, platform, account, campaign, media type).
scope_dims AS (
    SELECT DISTINCT scope, scope_key, s_brand AS brand, s_platform AS platform,
           s_account_id AS account_id, NULL AS campaign_id, s_media_type AS media_type
    FROM post_scoped
    UNION
    SELECT DISTINCT scope, scope_key, s_brand, s_platform, s_account_id, NULL, NULL
    FROM account_scoped
    UNION
    SELECT DISTINCT scope, scope_key, s_brand, s_platform, s_account_id, s_campaign_id, NULL
    FROM ad_scoped
    UNION
    SELECT DISTINCT scope, scope_key, s_brand, s_platform, NULL, NULL, NULL FROM web_scoped
    UNION
    SELECT DISTINCT scope, scope_key, s_brand, NULL, NULL, NULL, NULL FROM cac_scoped
    UNION
    SELECT DISTINCT scope, scope_key, s_brand, NULL, NULL, NULL, NULL FROM email_scoped
    UNION
    SELECT DISTINCT scope, scope_key, CASE WHEN scope = 'brand' THEN scope_key END,
           CASE WHEN scope = 'platform' THEN scope_key END, NULL, NULL, NULL
    FROM attr_coverage
),
valued AS (
    SELECT period_start, kpi, scope, scope_key, unit, coverage_days,
           CAST(pe.period_end - period_start + 1 AS INTEGER) AS period_days,
           CAST(numerator AS DOUBLE) AS numerator, CAST(denominator AS DOUBLE) AS denominator,
           CASE WHEN NOT is_ratio THEN CAST(numerator AS DOUBLE)
                WHEN denominator IS NULL OR denominator = 0 THEN NULL
                ELSE CAST(numerator AS DOUBLE) / CAST(denominator AS DOUBLE) END AS value
    FROM kpis JOIN periods AS pe USING (period_start)
)
SELECT cur.period_start, pe.period_end, $grain AS grain, cur.kpi, cur.scope, cur.scope_key,
       CAST(sd.brand AS VARCHAR) AS brand, CAST(sd.platform AS VARCHAR) AS platform,
       CAST(sd.account_id AS VARCHAR) AS account_id,
       CAST(sd.campaign_id AS VARCHAR) AS campaign_id,
       CAST(sd.media_type AS VARCHAR) AS media_type,
       cur.unit, cur.numerator, cur.denominator, cur.value,
       prev.value AS previous_value,
       CASE WHEN prev.value <> 0 THEN cur.value / prev.value - 1 END AS change_vs_previous,
       year_ago.value AS year_ago_value,
       CASE WHEN year_ago.value <> 0 THEN cur.value / year_ago.value - 1 END
           AS change_vs_year_ago,
       CAST(cur.coverage_days AS INTEGER) AS coverage_days, cur.period_days
FROM valued AS cur
JOIN periods AS pe USING (period_start)
JOIN scope_dims AS sd USING (scope, scope_key)
LEFT JOIN valued AS prev
       ON prev.kpi = cur.kpi AND prev.scope_key = cur.scope_key
      AND prev.period_start = pe.previous_start
      -- compared only when the data covers every day of both periods
      AND cur.coverage_days = cur.period_days AND prev.coverage_days = prev.period_days
LEFT JOIN valued AS year_ago
       ON year_ago.kpi = cur.kpi AND year_ago.scope_key = cur.scope_key
      AND year_ago.period_start = pe.year_ago_start
      AND cur.coverage_days = cur.period_days
      AND year_ago.coverage_days = year_ago.period_days
WHERE cur.period_start BETWEEN $first AND $last
ORDER BY cur.period_start, cur.kpi, cur.scope_key
