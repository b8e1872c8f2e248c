-- The floor of the weekly run: the same statistics, written by hand in plain DuckDB SQL.
--
-- Written from kpi_pipeline/data/kpi_catalog.yaml, kpi_pipeline/data/diagnostic_rules.yaml,
-- the checks' rules (README, "Data quality") and DOMAIN.md, and from the goals of
-- kpi_bench.goals.goals_for; it shares no code with kpi_pipeline. It reads what a weekly run
-- reads: the normalized tables (post activity as the stored daily increments) and the
-- stored KPIs and baselines of earlier weeks. It writes its results to schema scratch:
--   floor_kpi       every catalogue KPI of week $week per scope, with numerator,
--                   denominator, value, previous week's and same week last year's value
--                   (only between weeks the data covers on all 7 days), and coverage: the
--                   days of the week holding rows of every table the KPI reads
--   floor_check     the checks' rules as counts of offending rows
--   floor_baseline  the baseline snapshot as of $week over the 12 weeks before it
--   floor_finding   the diagnostic rules' findings for $week
--   floor_goal      each goal's value on each day of the week, its baseline, and the
--                   28-day trends of its leading indicators on the Sunday
-- Not in the floor (a few dozen rows, no data-sized work): the definition texts of the KPI
-- rows, the findings' diagnosis/action/evidence texts, the attainment statuses and
-- projections (Python arithmetic on the values below), the HTML pages of the checks.
-- The cohort lifetime value has no rows: the dataset holds no GA4 event export, so no
-- cohort (the chain writes none either).
--
-- Parameters: $week, the Monday of the week; $goal_start, the goals' first day.
-- Statements are separated by semicolons; no string literal holds one.

CREATE SCHEMA IF NOT EXISTS scratch;

-- ====================================================================== 1. KPIs
-- The weeks a KPI row of $week needs: itself, the week before, the same week 52 weeks back.
CREATE OR REPLACE TEMP TABLE weeks AS
SELECT CAST($week AS DATE) AS week
UNION ALL SELECT CAST($week AS DATE) - 7
UNION ALL SELECT CAST($week AS DATE) - 364;

-- The account-days whose posts were pulled, as the day after: a day's post activity is
-- its growth over the day before, measured (covered) only when that day was pulled too.
CREATE OR REPLACE TEMP TABLE post_pulled AS
SELECT DISTINCT platform, account_id, report_date + 1 AS next_day
FROM normalized.post_daily
WHERE report_date BETWEEN CAST($week AS DATE) - 8 AND CAST($week AS DATE) + 5
   OR report_date BETWEEN CAST($week AS DATE) - 365 AND CAST($week AS DATE) - 359;

-- Organic posts: one row per week and (brand, platform, account, media type).
CREATE OR REPLACE TEMP TABLE post_week AS
SELECT CAST(date_trunc('week', report_date) AS DATE) AS week, brand, platform, account_id,
       media_type, count(*) AS n,
       list(DISTINCT report_date) FILTER (WHERE pulled_before) AS days,
       sum(views_delta) AS views, sum(impressions_delta) AS impressions,
       sum(likes_delta) AS likes, sum(comments_delta) AS comments,
       sum(shares_delta) AS shares, sum(saves_delta) AS saves,
       sum(link_clicks_delta) AS link_clicks, sum(video_views_delta) AS video_views,
       sum(completions_delta) AS completions, sum(watch_time_seconds_delta) AS watch_time,
       -- LinkedIn counts impressions, the other platforms views
       sum(CASE WHEN platform = 'linkedin' THEN impressions_delta ELSE views_delta END)
           AS exposure,
       sum(coalesce(likes_delta, 0) + coalesce(comments_delta, 0) + coalesce(shares_delta, 0)
           + coalesce(saves_delta, 0)) AS interactions
FROM (SELECT p.*, u.next_day IS NOT NULL AS pulled_before
      FROM normalized.post_daily p
      LEFT JOIN post_pulled u ON u.platform = p.platform AND u.account_id = p.account_id
                             AND u.next_day = p.report_date)
WHERE report_date BETWEEN CAST($week AS DATE) - 7 AND CAST($week AS DATE) + 6
   OR report_date BETWEEN CAST($week AS DATE) - 364 AND CAST($week AS DATE) - 358
GROUP BY ALL;

-- Each KPI adds up only the platforms it is defined on (fit = facebook, instagram, tiktok;
-- ft = facebook, tiktok; fl = facebook, linkedin); n_* say whether any row was there.
CREATE OR REPLACE TEMP TABLE post_scoped AS
SELECT week,
       CASE WHEN grouping(account_id) = 0 THEN 'account'
            WHEN grouping(media_type) = 0 THEN 'media_type'
            WHEN grouping(platform) = 0 THEN 'platform'
            WHEN grouping(brand) = 0 THEN 'brand' ELSE 'all' END AS scope,
       brand, platform, account_id, media_type,
       sum(n) AS n_all,
       sum(n) FILTER (WHERE platform IN ('facebook', 'instagram', 'tiktok')) AS n_fit,
       sum(n) FILTER (WHERE platform = 'linkedin') AS n_li,
       sum(n) FILTER (WHERE platform = 'instagram') AS n_ig,
       sum(n) FILTER (WHERE platform IN ('facebook', 'tiktok')) AS n_ft,
       sum(n) FILTER (WHERE platform IN ('facebook', 'linkedin')) AS n_fl,
       -- the days with a row, over the same platform sets
       list_distinct(flatten(list(days))) AS days_all,
       list_distinct(flatten(list(days) FILTER (
           WHERE platform IN ('facebook', 'instagram', 'tiktok')))) AS days_fit,
       list_distinct(flatten(list(days) FILTER (WHERE platform = 'linkedin'))) AS days_li,
       list_distinct(flatten(list(days) FILTER (WHERE platform = 'instagram'))) AS days_ig,
       list_distinct(flatten(list(days) FILTER (
           WHERE platform IN ('facebook', 'tiktok')))) AS days_ft,
       list_distinct(flatten(list(days) FILTER (
           WHERE platform IN ('facebook', 'linkedin')))) AS days_fl,
       sum(views) FILTER (WHERE platform IN ('facebook', 'instagram', 'tiktok')) AS views_fit,
       sum(impressions) FILTER (WHERE platform = 'linkedin') AS impressions_li,
       sum(likes) AS likes, sum(comments) AS comments, sum(shares) AS shares,
       sum(interactions) AS interactions, sum(exposure) AS exposure,
       sum(saves) FILTER (WHERE platform = 'instagram') AS saves_ig,
       sum(watch_time) FILTER (WHERE platform IN ('facebook', 'instagram', 'tiktok'))
           AS watch_time_fit,
       sum(video_views) FILTER (WHERE platform IN ('facebook', 'instagram', 'tiktok'))
           AS video_views_fit,
       sum(completions) FILTER (WHERE platform IN ('facebook', 'tiktok')) AS completions_ft,
       sum(video_views) FILTER (WHERE platform IN ('facebook', 'tiktok')) AS video_views_ft,
       sum(link_clicks) FILTER (WHERE platform IN ('facebook', 'linkedin')) AS link_clicks_fl,
       sum(exposure) FILTER (WHERE platform IN ('facebook', 'linkedin')) AS exposure_fl
FROM post_week
GROUP BY GROUPING SETS ((week), (week, brand), (week, platform),
                        (week, platform, account_id, brand), (week, media_type));

-- Paid campaigns (Meta, LinkedIn and TikTok ads; money in the reporting currency).
CREATE OR REPLACE TEMP TABLE ad_scoped AS
SELECT week,
       CASE WHEN grouping(campaign_id) = 0 THEN 'campaign'
            WHEN grouping(account_id) = 0 THEN 'account'
            WHEN grouping(platform) = 0 THEN 'platform'
            WHEN grouping(brand) = 0 THEN 'brand' ELSE 'all' END AS scope,
       brand, platform, account_id, campaign_id,
       sum(spend_reporting) AS spend, sum(revenue_reporting) AS revenue,
       sum(impressions) AS impressions, sum(link_clicks) AS link_clicks,
       sum(leads) AS leads, sum(purchases) AS purchases,
       list_distinct(list(report_date)) AS days
FROM (SELECT CAST(date_trunc('week', report_date) AS DATE) AS week, brand, platform,
             ad_account_id AS account_id, campaign_id, report_date, spend_reporting,
             revenue_reporting,
             impressions, link_clicks, leads, purchases
      FROM normalized.ad_daily
      WHERE report_date BETWEEN CAST($week AS DATE) - 7 AND CAST($week AS DATE) + 6
         OR report_date BETWEEN CAST($week AS DATE) - 364 AND CAST($week AS DATE) - 358)
GROUP BY GROUPING SETS ((week), (week, brand), (week, platform),
                        (week, platform, account_id, brand),
                        (week, platform, account_id, campaign_id, brand));

-- Social web sessions (GA4, is_social). Sessions from a social platform the pipeline does
-- not track (platform NULL) count for all and per brand, not as a platform of their own.
CREATE OR REPLACE TEMP TABLE web_scoped AS
SELECT week,
       CASE WHEN grouping(platform) = 0 THEN 'platform'
            WHEN grouping(brand) = 0 THEN 'brand' ELSE 'all' END AS scope,
       brand, platform,
       sum(sessions) AS sessions, sum(bounces) AS bounces, sum(page_views) AS page_views,
       sum(engagement_time_seconds) AS engagement_time, sum(sign_ups) AS sign_ups,
       sum(leads) AS leads, sum(qualified_leads) AS qualified_leads,
       sum(booked_calls) AS booked_calls, sum(orders) AS orders,
       sum(new_customers) AS new_customers, sum(revenue_reporting) AS revenue,
       -- returning customers' revenue, estimated on each row and summed
       sum(CASE WHEN orders > 0
                THEN revenue_reporting * (orders - new_customers) / orders END)
           AS returning_revenue,
       list_distinct(list(report_date)) AS days
FROM (SELECT CAST(date_trunc('week', report_date) AS DATE) AS week, *
      FROM normalized.web_daily
      WHERE is_social
        AND (platform IS NULL OR platform IN ('facebook', 'instagram', 'linkedin', 'tiktok'))
        AND (report_date BETWEEN CAST($week AS DATE) - 7 AND CAST($week AS DATE) + 6
             OR report_date BETWEEN CAST($week AS DATE) - 364 AND CAST($week AS DATE) - 358))
GROUP BY GROUPING SETS ((week), (week, brand), (week, platform));

-- Customer acquisition cost: all ad spend over first-time purchasers from social sessions;
-- the conversion campaigns' CAC: the spend of campaigns whose objective is conversions
-- (0 for another objective, unknown when none is stored) over the same purchasers.
CREATE OR REPLACE TEMP TABLE cac_scoped AS
SELECT week, CASE WHEN grouping(brand) = 0 THEN 'brand' ELSE 'all' END AS scope, brand,
       sum(spend) AS spend, sum(conversion_spend) AS conversion_spend,
       sum(new_customers) AS new_customers,
       -- the days holding both ad rows and social sessions
       list_intersect(list_distinct(list(ad_day)), list_distinct(list(web_day))) AS days
FROM (SELECT CAST(date_trunc('week', report_date) AS DATE) AS week, brand,
             spend_reporting AS spend,
             CASE WHEN objective = 'conversions' THEN spend_reporting
                  WHEN objective IS NOT NULL THEN 0 END AS conversion_spend,
             NULL::BIGINT AS new_customers,
             report_date AS ad_day, NULL::DATE AS web_day
      FROM normalized.ad_daily
      WHERE report_date BETWEEN CAST($week AS DATE) - 7 AND CAST($week AS DATE) + 6
         OR report_date BETWEEN CAST($week AS DATE) - 364 AND CAST($week AS DATE) - 358
      UNION ALL
      SELECT CAST(date_trunc('week', report_date) AS DATE), brand, NULL, NULL, new_customers,
             NULL, report_date
      FROM normalized.web_daily
      WHERE is_social
        AND (report_date BETWEEN CAST($week AS DATE) - 7 AND CAST($week AS DATE) + 6
             OR report_date BETWEEN CAST($week AS DATE) - 364 AND CAST($week AS DATE) - 358))
GROUP BY GROUPING SETS ((week), (week, brand));

-- Accounts: followers are a level (the last day's, against the day before the week);
-- reach is the platform's own 7-day unique reach on the week's Sunday, never a sum.
CREATE OR REPLACE TEMP TABLE account_scoped AS
WITH per_account AS (
    SELECT w.week, a.brand, a.platform, a.account_id,
           any_value(a.followers) FILTER (WHERE a.report_date = w.week + 6) AS followers_end,
           any_value(a.followers) FILTER (WHERE a.report_date = w.week - 1) AS followers_start,
           any_value(a.reach_week) FILTER (WHERE a.report_date = w.week + 6) AS reach_week,
           list(DISTINCT a.report_date) FILTER (WHERE a.report_date >= w.week) AS days
    FROM normalized.account_daily a
    JOIN weeks w ON a.report_date BETWEEN w.week - 1 AND w.week + 6
    WHERE a.report_date BETWEEN CAST($week AS DATE) - 8 AND CAST($week AS DATE) + 6
       OR a.report_date BETWEEN CAST($week AS DATE) - 365 AND CAST($week AS DATE) - 358
    GROUP BY ALL)
SELECT week,
       CASE WHEN grouping(account_id) = 0 THEN 'account'
            WHEN grouping(platform) = 0 THEN 'platform'
            WHEN grouping(brand) = 0 THEN 'brand' ELSE 'all' END AS scope,
       brand, platform, account_id,
       sum(followers_end) AS followers_end, sum(followers_start) AS followers_start,
       sum(reach_week) AS reach_week, list_distinct(flatten(list(days))) AS days
FROM per_account
GROUP BY GROUPING SETS ((week), (week, brand), (week, platform),
                        (week, platform, account_id, brand));

-- Email lists: the member count is a level too; opt-ins are the week's own days.
CREATE OR REPLACE TEMP TABLE email_scoped AS
WITH per_list AS (
    SELECT w.week, e.brand, e.list_id,
           any_value(e.subscribers) FILTER (WHERE e.report_date = w.week + 6) AS members_end,
           any_value(e.subscribers) FILTER (WHERE e.report_date = w.week - 1) AS members_start,
           sum(e.subscribes) FILTER (WHERE e.report_date >= w.week) AS opt_ins,
           list(DISTINCT e.report_date) FILTER (WHERE e.report_date >= w.week) AS days
    FROM normalized.email_daily e
    JOIN weeks w ON e.report_date BETWEEN w.week - 1 AND w.week + 6
    WHERE e.report_date BETWEEN CAST($week AS DATE) - 8 AND CAST($week AS DATE) + 6
       OR e.report_date BETWEEN CAST($week AS DATE) - 365 AND CAST($week AS DATE) - 358
    GROUP BY ALL)
SELECT week, CASE WHEN grouping(brand) = 0 THEN 'brand' ELSE 'all' END AS scope, brand,
       sum(members_end) AS members_end, sum(members_start) AS members_start,
       sum(opt_ins) AS opt_ins, list_distinct(flatten(list(days))) AS days
FROM per_list
GROUP BY GROUPING SETS ((week), (week, brand));

-- Every KPI of the catalogue for the three weeks, long: (kpi, unit, numerator, denominator).
CREATE OR REPLACE TEMP TABLE kpi_long AS
WITH post AS (
    SELECT *, CASE scope WHEN 'all' THEN 'all' WHEN 'brand' THEN brand
                         WHEN 'platform' THEN platform WHEN 'media_type' THEN media_type
                         ELSE platform || '/' || account_id END AS scope_key
    FROM post_scoped),
ads AS (
    SELECT *, CASE scope WHEN 'all' THEN 'all' WHEN 'brand' THEN brand
                         WHEN 'platform' THEN platform WHEN 'account' THEN platform || '/' || account_id
                         ELSE platform || '/' || account_id || '/' || campaign_id END AS scope_key
    FROM ad_scoped),
web AS (
    SELECT *, CASE scope WHEN 'all' THEN 'all' WHEN 'brand' THEN brand ELSE platform END
              AS scope_key
    FROM web_scoped WHERE NOT (scope = 'platform' AND platform IS NULL)),
acct AS (
    SELECT *, CASE scope WHEN 'all' THEN 'all' WHEN 'brand' THEN brand
                         WHEN 'platform' THEN platform ELSE platform || '/' || account_id END
              AS scope_key
    FROM account_scoped),
cac AS (SELECT *, CASE scope WHEN 'all' THEN 'all' ELSE brand END AS scope_key FROM cac_scoped),
mail AS (SELECT *, CASE scope WHEN 'all' THEN 'all' ELSE brand END AS scope_key
         FROM email_scoped)
-- organic posts
SELECT week, scope, scope_key, brand, platform, account_id, NULL AS campaign_id, media_type,
       'views' AS kpi, 'count' AS unit, views_fit AS numerator, NULL AS denominator,
       FALSE AS ratio, days_fit AS days FROM post WHERE n_fit > 0
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, media_type,
       'impressions', 'count', impressions_li, NULL, FALSE, days_li FROM post WHERE n_li > 0
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, media_type,
       'share_rate', 'ratio', shares, exposure, TRUE, days_all FROM post
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, media_type,
       'engagement_rate', 'ratio', interactions, exposure, TRUE, days_all FROM post
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, media_type,
       'likes', 'count', likes, NULL, FALSE, days_all FROM post
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, media_type,
       'saves', 'count', saves_ig, NULL, FALSE, days_ig FROM post WHERE n_ig > 0
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, media_type,
       'shares', 'count', shares, NULL, FALSE, days_all FROM post
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, media_type,
       'comments', 'count', comments, NULL, FALSE, days_all FROM post
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, media_type,
       'average_watch_time', 'seconds', watch_time_fit, video_views_fit, TRUE, days_fit FROM post
       WHERE n_fit > 0
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, media_type,
       'completion_rate', 'ratio', completions_ft, video_views_ft, TRUE, days_ft FROM post
       WHERE n_ft > 0
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, media_type,
       'organic_click_through_rate', 'ratio', link_clicks_fl, exposure_fl, TRUE, days_fl FROM post
       WHERE n_fl > 0
-- accounts
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, NULL,
       'followers', 'count', followers_end, NULL, FALSE, days FROM acct
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, NULL,
       'follower_growth_rate', 'ratio', followers_end - followers_start, followers_start, TRUE, days
       FROM acct
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, NULL, NULL,
       'reach', 'count', reach_week, NULL, FALSE, days FROM acct
       WHERE scope = 'account' AND platform IN ('facebook', 'instagram')
-- ads
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, campaign_id, NULL,
       'click_through_rate', 'ratio', link_clicks, impressions, TRUE, days FROM ads
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, campaign_id, NULL,
       'ad_link_clicks', 'count', link_clicks, NULL, FALSE, days FROM ads
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, campaign_id, NULL,
       'cost_per_click', 'currency', spend, link_clicks, TRUE, days FROM ads
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, campaign_id, NULL,
       'cost_per_mille', 'currency', spend, impressions / 1000, TRUE, days FROM ads
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, campaign_id, NULL,
       'ad_spend', 'currency', spend, NULL, FALSE, days FROM ads
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, campaign_id, NULL,
       'cost_per_lead', 'currency', spend, leads, TRUE, days FROM ads
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, campaign_id, NULL,
       'return_on_ad_spend', 'multiple', revenue, spend, TRUE, days FROM ads
UNION ALL SELECT week, scope, scope_key, brand, platform, account_id, campaign_id, NULL,
       'cost_per_purchase', 'currency', spend, purchases, TRUE, days FROM ads
-- web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'landing_page_sessions', 'count', sessions, NULL, FALSE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'bounce_rate', 'ratio', bounces, sessions, TRUE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'time_on_page', 'seconds', engagement_time, sessions, TRUE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'pages_per_session', 'multiple', page_views, sessions, TRUE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'signup_conversion_rate', 'ratio', sign_ups, sessions, TRUE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'email_signups', 'count', sign_ups, NULL, FALSE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'leads', 'count', leads, NULL, FALSE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'qualified_leads', 'count', qualified_leads, NULL, FALSE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'lead_quality', 'ratio', qualified_leads, leads, TRUE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'booked_calls', 'count', booked_calls, NULL, FALSE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'order_conversion_rate', 'ratio', orders, sessions, TRUE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'social_revenue', 'currency', revenue, NULL, FALSE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'average_order_value', 'currency', revenue, orders, TRUE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'repeat_customer_rate', 'ratio', orders - new_customers, orders, TRUE, days FROM web
UNION ALL SELECT week, scope, scope_key, brand, platform, NULL, NULL, NULL,
       'returning_customer_revenue', 'currency', returning_revenue, NULL, FALSE, days FROM web
-- customer acquisition cost, email
UNION ALL SELECT week, scope, scope_key, brand, NULL, NULL, NULL, NULL,
       'customer_acquisition_cost', 'currency', spend, new_customers, TRUE, days FROM cac
UNION ALL SELECT week, scope, scope_key, brand, NULL, NULL, NULL, NULL,
       'conversion_cac', 'currency', conversion_spend, new_customers, TRUE, days FROM cac
UNION ALL SELECT week, scope, scope_key, brand, NULL, NULL, NULL, NULL,
       'email_list_growth_rate', 'ratio', members_end - members_start, members_start, TRUE, days
       FROM mail
UNION ALL SELECT week, scope, scope_key, brand, NULL, NULL, NULL, NULL,
       'email_opt_ins', 'count', opt_ins, NULL, FALSE, days FROM mail;

-- A ratio with a zero or missing denominator is NULL; then the comparisons.
CREATE OR REPLACE TABLE scratch.floor_kpi AS
WITH valued AS (
    SELECT *, CASE WHEN NOT ratio THEN CAST(numerator AS DOUBLE)
                   WHEN denominator IS NULL OR denominator = 0 THEN NULL
                   ELSE CAST(numerator AS DOUBLE) / CAST(denominator AS DOUBLE) END AS value,
              coalesce(len(days), 0) AS coverage_days
    FROM kpi_long)
SELECT c.week AS period_start, c.week + 6 AS period_end, c.kpi, c.scope, c.scope_key,
       c.brand, c.platform, c.account_id, c.campaign_id, c.media_type, c.unit,
       CAST(c.numerator AS DOUBLE) AS numerator, CAST(c.denominator AS DOUBLE) AS denominator,
       c.value, p.value AS previous_value,
       CASE WHEN p.value <> 0 THEN c.value / p.value - 1 END AS change_vs_previous,
       y.value AS year_ago_value,
       CASE WHEN y.value <> 0 THEN c.value / y.value - 1 END AS change_vs_year_ago,
       c.coverage_days, 7 AS period_days
FROM valued c
-- a week is compared only with a week, and only when both have rows on all 7 days (c's
-- test inside the key: a condition on c alone makes DuckDB 1.4 nest the loops)
LEFT JOIN valued p ON p.kpi = c.kpi AND p.scope_key = c.scope_key
     AND p.week = CASE WHEN c.coverage_days = 7 THEN c.week - 7 END AND p.coverage_days = 7
LEFT JOIN valued y ON y.kpi = c.kpi AND y.scope_key = c.scope_key
     AND y.week = CASE WHEN c.coverage_days = 7 THEN c.week - 364 END AND y.coverage_days = 7
WHERE c.week = CAST($week AS DATE);

-- ====================================================================== 2. checks
-- The blocking rules (shares within [0, 1]; a value wherever the denominator is positive;
-- every KPI computed for all platforms present, unless its source table has no row in the
-- week) and the warning (|change vs previous week| <= 3 for all, brands and platforms).
CREATE OR REPLACE TABLE scratch.floor_check AS
WITH present AS (
    SELECT 'post_daily' AS source_table, count(*) > 0 AS has_rows FROM normalized.post_daily
    WHERE report_date BETWEEN CAST($week AS DATE) AND CAST($week AS DATE) + 6
    UNION ALL SELECT 'account_daily', count(*) > 0 FROM normalized.account_daily
    WHERE report_date BETWEEN CAST($week AS DATE) AND CAST($week AS DATE) + 6
    UNION ALL SELECT 'ad_daily', count(*) > 0 FROM normalized.ad_daily
    WHERE report_date BETWEEN CAST($week AS DATE) AND CAST($week AS DATE) + 6
    UNION ALL SELECT 'web_daily', count(*) > 0 FROM normalized.web_daily
    WHERE report_date BETWEEN CAST($week AS DATE) AND CAST($week AS DATE) + 6
    UNION ALL SELECT 'email_daily', count(*) > 0 FROM normalized.email_daily
    WHERE report_date BETWEEN CAST($week AS DATE) AND CAST($week AS DATE) + 6),
expected(kpi, source_table, other_table) AS (VALUES
    ('views', 'post_daily', NULL), ('impressions', 'post_daily', NULL),
    ('share_rate', 'post_daily', NULL), ('engagement_rate', 'post_daily', NULL),
    ('likes', 'post_daily', NULL), ('saves', 'post_daily', NULL),
    ('shares', 'post_daily', NULL), ('comments', 'post_daily', NULL),
    ('average_watch_time', 'post_daily', NULL), ('completion_rate', 'post_daily', NULL),
    ('organic_click_through_rate', 'post_daily', NULL),
    ('followers', 'account_daily', NULL), ('follower_growth_rate', 'account_daily', NULL),
    ('click_through_rate', 'ad_daily', NULL), ('ad_link_clicks', 'ad_daily', NULL),
    ('cost_per_click', 'ad_daily', NULL), ('cost_per_mille', 'ad_daily', NULL),
    ('ad_spend', 'ad_daily', NULL), ('cost_per_lead', 'ad_daily', NULL),
    ('return_on_ad_spend', 'ad_daily', NULL), ('cost_per_purchase', 'ad_daily', NULL),
    ('landing_page_sessions', 'web_daily', NULL), ('bounce_rate', 'web_daily', NULL),
    ('time_on_page', 'web_daily', NULL), ('pages_per_session', 'web_daily', NULL),
    ('signup_conversion_rate', 'web_daily', NULL), ('email_signups', 'web_daily', NULL),
    ('leads', 'web_daily', NULL), ('qualified_leads', 'web_daily', NULL),
    ('lead_quality', 'web_daily', NULL), ('booked_calls', 'web_daily', NULL),
    ('order_conversion_rate', 'web_daily', NULL), ('social_revenue', 'web_daily', NULL),
    ('average_order_value', 'web_daily', NULL),
    ('repeat_customer_rate', 'web_daily', NULL),
    ('returning_customer_revenue', 'web_daily', NULL),
    ('customer_acquisition_cost', 'ad_daily', 'web_daily'),
    ('conversion_cac', 'ad_daily', 'web_daily'),
    ('email_list_growth_rate', 'email_daily', NULL), ('email_opt_ins', 'email_daily', NULL))
SELECT 'rate between 0 and 1' AS rule, kpi, count(*) AS rows_broken
FROM scratch.floor_kpi
WHERE kpi IN ('engagement_rate', 'share_rate', 'completion_rate', 'organic_click_through_rate',
              'click_through_rate', 'bounce_rate', 'signup_conversion_rate', 'lead_quality',
              'order_conversion_rate', 'repeat_customer_rate')
  AND NOT value BETWEEN 0 AND 1
GROUP BY kpi
UNION ALL
SELECT 'value not NULL where denominator > 0', NULL, count(*)
FROM scratch.floor_kpi WHERE denominator > 0 AND value IS NULL
UNION ALL
SELECT 'every KPI present at scope all', e.kpi, 1
FROM expected e
WHERE NOT EXISTS (SELECT 1 FROM present p WHERE p.source_table IN (e.source_table, e.other_table)
                  AND NOT p.has_rows)
  AND e.kpi NOT IN (SELECT kpi FROM scratch.floor_kpi WHERE scope = 'all')
UNION ALL
SELECT '|change vs previous| <= 3', NULL, count(*)
FROM scratch.floor_kpi
WHERE scope IN ('all', 'brand', 'platform') AND abs(change_vs_previous) > 3;

-- ====================================================================== 3. baseline
-- Where each KPI stood over the 12 weeks before $week (the stored weekly KPIs).
CREATE OR REPLACE TABLE scratch.floor_baseline AS
SELECT CAST($week AS DATE) AS as_of, kpi, scope, scope_key, any_value(unit) AS unit,
       CAST($week AS DATE) - 84 AS first_period, max(period_start) AS last_period,
       count(value) AS periods, avg(value) AS mean, median(value) AS median,
       stddev_samp(value) AS stddev, min(value) AS min, max(value) AS max,
       CASE WHEN count(denominator) = 0 OR sum(denominator) = 0 THEN NULL
            ELSE sum(numerator) / sum(denominator) END AS pooled
FROM kpi.weekly
WHERE period_start >= CAST($week AS DATE) - 84 AND period_start < CAST($week AS DATE)
GROUP BY kpi, scope, scope_key
HAVING count(value) > 0;

-- ====================================================================== 4. findings
-- Each rule: every condition's KPI value against its baseline (pooled, else mean) times
-- the factor, at the rule's scopes.
CREATE OR REPLACE TABLE scratch.floor_finding AS
WITH kb AS (
    SELECT k.period_start, k.kpi, k.scope, k.scope_key, k.value,
           coalesce(b.pooled, b.mean) AS baseline
    FROM scratch.floor_kpi k JOIN scratch.floor_baseline b USING (kpi, scope_key))
SELECT a.period_start, 'unclear_call_to_action' AS rule, a.scope, a.scope_key
FROM kb a JOIN kb b ON b.scope_key = a.scope_key AND b.kpi = 'order_conversion_rate'
WHERE a.kpi = 'engagement_rate' AND a.scope IN ('all', 'brand', 'platform')
  AND a.value >= a.baseline * 1.10 AND b.value <= b.baseline * 0.90
UNION ALL
SELECT a.period_start, 'weak_opening_hook', a.scope, a.scope_key
FROM kb a JOIN kb b ON b.scope_key = a.scope_key AND b.kpi = 'completion_rate'
WHERE a.kpi = 'average_watch_time'
  AND a.scope IN ('all', 'brand', 'platform', 'account', 'media_type')
  AND a.value <= a.baseline * 0.85 AND b.value <= b.baseline * 0.90
UNION ALL
SELECT period_start, 'message_audience_mismatch', scope, scope_key FROM kb
WHERE kpi = 'click_through_rate' AND scope IN ('all', 'brand', 'platform', 'account', 'campaign')
  AND value <= baseline * 0.80
UNION ALL
SELECT period_start, 'cost_per_lead_rising', scope, scope_key FROM kb
WHERE kpi = 'cost_per_lead' AND scope IN ('all', 'brand', 'platform', 'account')
  AND value >= baseline * 1.25
UNION ALL
SELECT a.period_start, 'landing_page_overpromised', a.scope, a.scope_key
FROM kb a JOIN kb b ON b.scope_key = a.scope_key AND b.kpi = 'bounce_rate'
WHERE a.kpi = 'landing_page_sessions' AND a.scope IN ('all', 'brand', 'platform')
  AND a.value >= a.baseline * 1.10 AND b.value >= b.baseline * 1.10
UNION ALL
SELECT a.period_start, 'landing_page_not_converting', a.scope, a.scope_key
FROM kb a JOIN kb b ON b.scope_key = a.scope_key AND b.kpi = 'signup_conversion_rate'
WHERE a.kpi = 'ad_link_clicks' AND a.scope IN ('all', 'brand')
  AND a.value >= a.baseline * 0.95 AND b.value <= b.baseline * 0.85;

-- ====================================================================== 5. goals
-- Each goal's numerator and denominator per day, at its scope and on its KPI's platforms,
-- from its window's first day to the week's Sunday.
CREATE OR REPLACE TEMP TABLE goal_days AS
SELECT 'ig-engagement-rate' AS goal_id, report_date AS day,
       sum(coalesce(likes_delta, 0) + coalesce(comments_delta, 0) + coalesce(shares_delta, 0)
           + coalesce(saves_delta, 0)) AS num, sum(views_delta) AS den
FROM normalized.post_daily
WHERE platform = 'instagram'
  AND report_date BETWEEN CAST($goal_start AS DATE) AND CAST($week AS DATE) + 6
GROUP BY report_date
UNION ALL
SELECT 'brand-views', report_date, sum(views_delta), NULL FROM normalized.post_daily
WHERE brand = 'brand_000' AND platform IN ('facebook', 'instagram', 'tiktok')
  AND report_date BETWEEN CAST($goal_start AS DATE) AND CAST($week AS DATE) + 6
GROUP BY report_date
UNION ALL
SELECT 'linkedin-cost-per-lead', report_date, sum(spend_reporting), sum(leads)
FROM normalized.ad_daily
WHERE platform = 'linkedin'
  AND report_date BETWEEN CAST($goal_start AS DATE) AND CAST($week AS DATE) + 6
GROUP BY report_date
UNION ALL
SELECT 'campaign-link-clicks', report_date, sum(link_clicks), NULL FROM normalized.ad_daily
WHERE platform = 'meta' AND ad_account_id = 'ad_meta_0' AND campaign_id = 'cmp_0'
  AND report_date BETWEEN CAST($goal_start AS DATE) AND CAST($week AS DATE) + 6
GROUP BY report_date
UNION ALL
SELECT CASE brand WHEN 'brand_001' THEN 'brand-booked-calls' ELSE 'brand-social-revenue' END,
       report_date,
       CASE brand WHEN 'brand_001' THEN sum(booked_calls) ELSE sum(revenue_reporting) END,
       NULL
FROM normalized.web_daily
WHERE is_social AND brand IN ('brand_001', 'brand_003')
  AND (platform IS NULL OR platform IN ('facebook', 'instagram', 'linkedin', 'tiktok'))
  AND report_date BETWEEN CAST($goal_start AS DATE) AND CAST($week AS DATE) + 6
GROUP BY brand, report_date
UNION ALL
SELECT 'brand-email-opt-ins', report_date, sum(subscribes), NULL FROM normalized.email_daily
WHERE brand = 'brand_002'
  AND report_date BETWEEN CAST($goal_start AS DATE) AND CAST($week AS DATE) + 6
GROUP BY report_date;

-- The levels of the two growth goals: on each day of the week, and on the day before the
-- goal's window.
CREATE OR REPLACE TEMP TABLE goal_levels AS
SELECT 'brand-follower-growth' AS goal_id, report_date AS day, sum(followers) AS level
FROM normalized.account_daily
WHERE brand = 'brand_001'
  AND (report_date BETWEEN CAST($week AS DATE) AND CAST($week AS DATE) + 6
       OR report_date = CAST($goal_start AS DATE) - 1)
GROUP BY report_date
UNION ALL
SELECT 'list-growth', report_date, sum(subscribers) FROM normalized.email_daily
WHERE report_date BETWEEN CAST($week AS DATE) AND CAST($week AS DATE) + 6
   OR report_date = CAST($goal_start AS DATE) - 1
GROUP BY report_date;

-- Leading indicators of the lagging goals, per day over the 56 days their trends read.
CREATE OR REPLACE TEMP TABLE lead_days AS
SELECT 'brand-follower-growth' AS goal_id, 'share_rate' AS indicator, report_date AS day,
       sum(shares_delta) AS num,
       sum(CASE WHEN platform = 'linkedin' THEN impressions_delta ELSE views_delta END) AS den
FROM normalized.post_daily
WHERE brand = 'brand_001'
  AND report_date BETWEEN CAST($week AS DATE) - 49 AND CAST($week AS DATE) + 6
GROUP BY report_date
UNION ALL
SELECT 'linkedin-cost-per-lead', 'click_through_rate', report_date, sum(link_clicks),
       sum(impressions)
FROM normalized.ad_daily
WHERE platform = 'linkedin'
  AND report_date BETWEEN CAST($week AS DATE) - 49 AND CAST($week AS DATE) + 6
GROUP BY report_date
UNION ALL
SELECT CASE brand WHEN 'brand_001' THEN 'brand-booked-calls' ELSE 'brand-social-revenue' END,
       'landing_page_sessions', report_date, sum(sessions), NULL
FROM normalized.web_daily
WHERE is_social AND brand IN ('brand_001', 'brand_003')
  AND (platform IS NULL OR platform IN ('facebook', 'instagram', 'linkedin', 'tiktok'))
  AND report_date BETWEEN CAST($week AS DATE) - 49 AND CAST($week AS DATE) + 6
GROUP BY brand, report_date
UNION ALL
SELECT 'brand-social-revenue', 'bounce_rate', report_date, sum(bounces), sum(sessions)
FROM normalized.web_daily
WHERE is_social AND brand = 'brand_003'
  AND (platform IS NULL OR platform IN ('facebook', 'instagram', 'linkedin', 'tiktok'))
  AND report_date BETWEEN CAST($week AS DATE) - 49 AND CAST($week AS DATE) + 6
GROUP BY report_date;

-- Per goal and day of the week: the value from the window's first day to that day (a run
-- rate per week for change targets on counts and money), the baseline snapshot at the
-- window's start (pooled for ratios, the mean week otherwise), and on the Sunday each
-- leading indicator over the last 28 days and the 28 before.
CREATE OR REPLACE TABLE scratch.floor_goal AS
WITH days AS (
    SELECT CAST($week AS DATE) + CAST(i AS INTEGER) AS as_of FROM range(7) r(i)),
ratio(goal_id, is_ratio, run_rate) AS (VALUES
    ('ig-engagement-rate', TRUE, FALSE), ('brand-views', FALSE, TRUE),
    ('linkedin-cost-per-lead', TRUE, FALSE), ('campaign-link-clicks', FALSE, FALSE),
    ('brand-booked-calls', FALSE, FALSE), ('brand-social-revenue', FALSE, TRUE),
    ('brand-email-opt-ins', FALSE, FALSE), ('brand-follower-growth', TRUE, FALSE),
    ('list-growth', TRUE, FALSE)),
sums AS (
    SELECT g.goal_id, d.as_of, sum(g.num) AS num, sum(g.den) AS den
    FROM goal_days g JOIN days d ON g.day <= d.as_of
    GROUP BY ALL
    UNION ALL
    SELECT l.goal_id, d.as_of, l.level - s.level, s.level
    FROM goal_levels l JOIN days d ON l.day = d.as_of
    JOIN goal_levels s ON s.goal_id = l.goal_id AND s.day = CAST($goal_start AS DATE) - 1),
valued AS (
    SELECT s.goal_id, s.as_of, r.run_rate,
           CASE WHEN NOT r.is_ratio THEN CAST(s.num AS DOUBLE)
                WHEN s.den IS NULL OR s.den = 0 THEN NULL
                ELSE CAST(s.num AS DOUBLE) / CAST(s.den AS DOUBLE) END AS value
    FROM sums s JOIN ratio r USING (goal_id)),
baselines AS (
    SELECT g.goal_id, arg_max_null(CASE WHEN r.is_ratio THEN b.pooled ELSE b.mean END, b.as_of)
               AS baseline
    FROM bench_goals g JOIN ratio r USING (goal_id)
    JOIN baseline.weekly b ON b.kpi = g.kpi AND b.scope_key = g.scope_key
                          AND b.as_of <= g.window_start
    GROUP BY g.goal_id),
sunday AS (SELECT CAST($week AS DATE) + 6 AS as_of),
trends AS (
    SELECT goal_id, indicator,
           sum(num) FILTER (WHERE day > (SELECT as_of FROM sunday) - 28) AS num_recent,
           sum(den) FILTER (WHERE day > (SELECT as_of FROM sunday) - 28) AS den_recent,
           sum(num) FILTER (WHERE day <= (SELECT as_of FROM sunday) - 28) AS num_before,
           sum(den) FILTER (WHERE day <= (SELECT as_of FROM sunday) - 28) AS den_before
    FROM lead_days GROUP BY ALL),
lead_trends AS (
    SELECT goal_id,
           list({'kpi': indicator,
                 'value': CASE WHEN indicator = 'landing_page_sessions' THEN num_recent
                               WHEN den_recent <> 0 THEN num_recent / den_recent END,
                 'previous': CASE WHEN indicator = 'landing_page_sessions' THEN num_before
                                  WHEN den_before <> 0 THEN num_before / den_before END}
                ORDER BY indicator) AS trends
    FROM trends GROUP BY goal_id)
SELECT v.goal_id, v.as_of,
       CASE WHEN v.run_rate THEN v.value / ((v.as_of - g.window_start) + 1) * 7
            ELSE v.value END AS actual,
       b.baseline,
       CASE WHEN v.as_of = (SELECT as_of FROM sunday) THEN l.trends END AS leading_indicators
FROM valued v JOIN bench_goals g USING (goal_id)
LEFT JOIN baselines b USING (goal_id)
LEFT JOIN lead_trends l USING (goal_id);
