-- Findings of the diagnostic rules for the period at the page's grain: one row per rule
-- and scope that fired, with the rule's title, diagnosis and recommended action, and the
-- evidence as JSON text (a list of {kpi, value, baseline, rule, threshold}).
-- Most important first: scope_rank orders the scopes from the widest (all platforms)
-- through brand, platform and media type to account and campaign; rules are ordered by
-- their widest finding, then by how many scopes they fired in.
-- Params: $grain ('week' | 'month'), $period_start.
WITH findings AS (
    FROM diagnostic.weekly UNION ALL BY NAME FROM diagnostic.monthly UNION ALL BY NAME FROM diagnostic.quarterly
), ranked AS (
    SELECT rule, title, diagnosis, action, scope, scope_key, evidence,
           CASE scope WHEN 'all' THEN 0 WHEN 'brand' THEN 1 WHEN 'platform' THEN 2
                      WHEN 'media_type' THEN 3 WHEN 'account' THEN 4 ELSE 5 END AS scope_rank
    FROM findings
    WHERE grain = $grain AND period_start = $period_start
)
SELECT rule, title, diagnosis, action, scope, scope_key, evidence, scope_rank,
       min(scope_rank) OVER (PARTITION BY rule) AS rule_rank,
       count(*) OVER (PARTITION BY rule) AS rule_findings
FROM ranked
ORDER BY rule_rank, rule_findings DESC, rule, scope_rank, scope_key
