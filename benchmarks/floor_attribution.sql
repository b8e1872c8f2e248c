-- The floor of benchmarks/attribution_benchmark.py: the attribution's daily totals in
-- plain DuckDB, written by hand from the README's rules ("Web events and attribution"),
-- sharing no code with kpi_pipeline/lib/kpis/attribution.py.
--
-- Reads normalized.web_sessions and normalized.web_events; writes floor_daily, one row
-- per conversion day x property x conversion type x model x channel x platform x
-- campaign with the attributed conversions (sum of credits) and revenue (sum of credit x
-- revenue): the grain and figures of attribution.daily. It stores neither the journeys
-- nor the per-touch credits nor the assists the production module also writes: it is
-- the least work that gives the same daily totals.
--
-- Parameters: $first, $last (the conversion days), $lookback (days), $half_life (days).
CREATE OR REPLACE TABLE floor_daily AS
WITH browsers AS (  -- a browser is a person where the site set a user_id on a session
    SELECT property_id, user_pseudo_id, max(user_id) AS person
    FROM normalized.web_sessions WHERE user_id IS NOT NULL GROUP BY ALL
),
sess AS (
    SELECT s.property_id, coalesce(s.user_id, b.person, s.user_pseudo_id) AS who,
           s.session_start, s.ga_session_id, s.user_pseudo_id, s.channel,
           coalesce(s.platform, '') AS platform, s.campaign
    FROM normalized.web_sessions s LEFT JOIN browsers b USING (property_id, user_pseudo_id)
    WHERE s.session_date BETWEEN $first - ($lookback + 1) AND $last
),
conv AS (  -- with the session holding it, where its journey ends
    SELECT e.source_file, e.source_record, e.property_id, e.event_date, e.event_ts,
           e.conversion_type, coalesce(e.revenue, 0) AS revenue,
           coalesce(e.user_id, b.person, e.user_pseudo_id) AS who,
           h.session_start AS end_start, h.ga_session_id AS end_session,
           h.user_pseudo_id AS end_browser
    FROM normalized.web_events e LEFT JOIN browsers b USING (property_id, user_pseudo_id)
    LEFT JOIN sess h ON h.property_id = e.property_id
     AND h.user_pseudo_id = e.user_pseudo_id AND h.ga_session_id = e.ga_session_id
    WHERE e.conversion_type IS NOT NULL AND e.event_date BETWEEN $first AND $last
    QUALIFY e.transaction_id IS NULL
         OR row_number() OVER (PARTITION BY e.property_id, e.transaction_id
                               ORDER BY e.event_ts, e.source_file, e.source_record) = 1
),
path AS (
    SELECT c.source_file, c.source_record, c.property_id, c.event_date,
           c.conversion_type, c.revenue, s.channel, s.platform, s.campaign,
           row_number() OVER w AS pos,
           count(*) OVER (PARTITION BY c.source_file, c.source_record) AS n,
           pow(2, -(epoch(c.event_ts) - epoch(s.session_start)) / 86400 / $half_life)
               AS weight
    FROM conv c
    JOIN sess s ON s.property_id = c.property_id AND s.who = c.who
               AND s.session_start <= c.event_ts
               AND s.session_start >= c.event_ts - INTERVAL 1 DAY * $lookback
               AND (c.end_start IS NULL
                    OR (s.session_start, s.ga_session_id, s.user_pseudo_id)
                       <= (c.end_start, c.end_session, c.end_browser))
    WINDOW w AS (PARTITION BY c.source_file, c.source_record
                 ORDER BY s.session_start, s.ga_session_id, s.user_pseudo_id)
),
shares AS (
    SELECT *,
           coalesce(max(CASE WHEN channel <> 'direct' THEN pos END)
                        OVER (PARTITION BY source_file, source_record), n) AS lnd,
           weight / sum(weight) OVER (PARTITION BY source_file, source_record) AS decay
    FROM path
),
touch AS (
    SELECT event_date, property_id, conversion_type, channel, platform, campaign, revenue,
           (pos = n)::DOUBLE AS last_click,
           (pos = lnd)::DOUBLE AS last_non_direct,
           (pos = 1)::DOUBLE AS first_touch,
           1 / n AS linear,
           CASE WHEN n = 1 THEN 1 WHEN n = 2 THEN 0.5 WHEN pos IN (1, n) THEN 0.4
                ELSE 0.2 / (n - 2) END AS position_based,
           decay AS time_decay
    FROM shares
),
sums AS (
    SELECT event_date AS day, property_id, conversion_type, channel, platform, campaign,
           sum(last_click) AS lc, sum(last_click * revenue) AS lc_r,
           sum(last_non_direct) AS lnd, sum(last_non_direct * revenue) AS lnd_r,
           sum(first_touch) AS ft, sum(first_touch * revenue) AS ft_r,
           sum(linear) AS li, sum(linear * revenue) AS li_r,
           sum(position_based) AS pb, sum(position_based * revenue) AS pb_r,
           sum(time_decay) AS td, sum(time_decay * revenue) AS td_r
    FROM touch GROUP BY ALL
)
UNPIVOT sums
ON (lc, lc_r) AS last_click, (lnd, lnd_r) AS last_non_direct, (ft, ft_r) AS first_touch,
   (li, li_r) AS linear, (pb, pb_r) AS position_based, (td, td_r) AS time_decay
INTO NAME model VALUE conversions, revenue;
