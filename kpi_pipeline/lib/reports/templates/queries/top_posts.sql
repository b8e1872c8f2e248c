-- The posts with the most interactions gained in the period, all platforms together.
-- Post metrics are lifetime snapshots (one row per post and day, never summed): a post's
-- gain is its latest snapshot in the period minus its latest snapshot before the period
-- starts, or the whole snapshot when there is none before (published in the period).
-- Interactions = likes + comments + shares + saves (saves only where the platform reports
-- them). Views are NULL where the platform reports impressions instead (LinkedIn).
-- Returns one row per post: platform, brand, account_id, post_id, media_type, caption
-- (UNTRUSTED text, as the platform gave it), published_at, views_gained,
-- impressions_gained, interactions_gained; most interactions first.
-- Params: $period_start, $period_end, $limit (how many posts).
WITH snapshots AS (
    SELECT platform, account_id, post_id, brand, media_type, caption, published_at,
           views, impressions,
           coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0)
             + coalesce(saves, 0) AS interactions,
           report_date >= $period_start AS in_period,
           row_number() OVER (PARTITION BY platform, account_id, post_id,
                                           report_date >= $period_start
                              ORDER BY report_date DESC) AS recency
    FROM normalized.post_daily
    WHERE report_date <= $period_end
), latest AS (
    FROM snapshots WHERE recency = 1
)
SELECT cur.platform, cur.brand, cur.account_id, cur.post_id, cur.media_type, cur.caption,
       cur.published_at,
       cur.views - coalesce(prior.views, 0) AS views_gained,
       cur.impressions - coalesce(prior.impressions, 0) AS impressions_gained,
       cur.interactions - coalesce(prior.interactions, 0) AS interactions_gained
FROM latest AS cur
LEFT JOIN latest AS prior
       ON prior.platform = cur.platform AND prior.account_id = cur.account_id
      AND prior.post_id = cur.post_id AND NOT prior.in_period
WHERE cur.in_period
ORDER BY interactions_gained DESC, views_gained DESC NULLS LAST, cur.platform, cur.post_id
LIMIT $limit
