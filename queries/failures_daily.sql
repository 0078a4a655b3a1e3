-- One row per UTC day and verdict (NOT_DIAGNOSED when not diagnosed yet): the number of failures that day.
CREATE OR REPLACE VIEW failures_daily AS
SELECT
    CAST(date_trunc('day', event_time) AS DATE) AS day,
    coalesce(verdict, 'NOT_DIAGNOSED') AS verdict,
    count(*) AS failures
FROM failures
GROUP BY ALL
ORDER BY day, verdict;
