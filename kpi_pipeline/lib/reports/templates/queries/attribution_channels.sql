-- Conversions of the period split between the channels of their journeys under every
-- attribution model (attribution.daily_reporting, summed over the period's days and
-- every property): one row per conversion type, channel and model, with the attributed
-- conversions and revenue in the reporting currency. Under every model a type's
-- attributed conversions add up to its conversions.
-- Params: $period_start, $period_end.
SELECT conversion_type, channel, model,
       sum(conversions) AS conversions, sum(revenue_reporting) AS revenue
FROM attribution.daily_reporting
WHERE day BETWEEN $period_start AND $period_end
GROUP BY ALL
ORDER BY conversion_type, channel, model
