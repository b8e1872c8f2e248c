-- The period's conversion journeys and the period before, from attribution.conversions:
-- per period and conversion type, conversions, how many journeys social
-- touched and assisted (a social touch without the last non-direct click), the mean
-- path length and the median days from the first touch to the conversion.
-- Params: $period_start, $period_end, $previous_start.
SELECT CASE WHEN conversion_date >= $period_start THEN 'this' ELSE 'previous' END AS which,
       conversion_type, count(*) AS conversions,
       count(*) FILTER (WHERE social_touched) AS social_touched,
       count(*) FILTER (WHERE social_assisted) AS social_assisted,
       avg(touches) AS mean_path_length,
       median(days_to_convert) AS median_days_to_convert,
       any_value(lookback_days) AS lookback_days,
       any_value(half_life_days) AS half_life_days
FROM attribution.conversions
WHERE conversion_date BETWEEN $previous_start AND $period_end
GROUP BY ALL
ORDER BY which DESC, conversion_type
