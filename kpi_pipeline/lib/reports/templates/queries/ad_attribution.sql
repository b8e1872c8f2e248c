-- The attribution settings behind the ad platforms' own conversions (leads, purchases,
-- revenue), from the previous period's start to the period's end: one row per platform,
-- ad account and stretch of consecutive report days under one setting, with the setting
-- of the stretch before it (NULL for an account's first stretch). A stretch that starts
-- after the window's first day is a change of setting: the counts on either side of it
-- are not comparable, whatever the performance did. The setting is the windows the pull
-- asked (normalized.ad_daily.attribution_setting, e.g. '7d_click,1d_view'), 'unknown'
-- where the platform's report does not name them; two settings on one account and day
-- (a re-read mixing pulls) read as both, joined by ' / '.
-- Params: $previous_start, $period_end.
WITH days AS (
    SELECT platform, ad_account_id, report_date, any_value(brand) AS brand,
           string_agg(DISTINCT coalesce(attribution_setting, 'unknown'), ' / '
                      ORDER BY coalesce(attribution_setting, 'unknown')) AS setting
    FROM normalized.ad_daily
    WHERE report_date BETWEEN $previous_start AND $period_end
    GROUP BY platform, ad_account_id, report_date
), marked AS (
    SELECT *, lag(setting) OVER account_days AS setting_before,
           CASE WHEN setting IS DISTINCT FROM lag(setting) OVER account_days THEN 1 ELSE 0
           END AS starts
    FROM days
    WINDOW account_days AS (PARTITION BY platform, ad_account_id ORDER BY report_date)
), stretches AS (
    SELECT *, sum(starts) OVER (PARTITION BY platform, ad_account_id ORDER BY report_date)
                  AS stretch
    FROM marked
)
SELECT platform, ad_account_id, any_value(brand) AS brand, setting,
       min(report_date) AS first_day, max(report_date) AS last_day,
       any_value(setting_before) FILTER (WHERE starts = 1) AS setting_before
FROM stretches
GROUP BY platform, ad_account_id, stretch, setting
ORDER BY platform, ad_account_id, first_day
