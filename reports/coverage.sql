-- Coverage per calendar month of simulated time, first to last member day: days covered by a run, runs, callers, datasets
-- Every month between the members' first and last simulated day has a row, so a month that
-- no run covers shows up with 0 covered days instead of going missing.
WITH run_days AS (
    SELECT run_id, CAST(unnest(generate_series(window_from, window_to, INTERVAL 1 DAY)) AS DATE) AS day
    FROM runs
),
months AS (
    SELECT CAST(unnest(generate_series(date_trunc('month', min(window_from)), date_trunc('month', max(window_to)),
                                       INTERVAL 1 MONTH)) AS DATE) AS month
    FROM runs
),
covered AS (
    SELECT CAST(date_trunc('month', day) AS DATE) AS month, count(DISTINCT day) AS covered_days
    FROM run_days
    GROUP BY ALL
),
month_runs AS (  -- one row per (month, run simulating at least one day of it)
    SELECT DISTINCT CAST(date_trunc('month', run_days.day) AS DATE) AS month, runs.run_id, runs.status,
           runs.callers, runs.dataset_ids
    FROM run_days
    JOIN runs USING (run_id)
)
SELECT months.month,
       datediff('day', months.month, last_day(months.month)) + 1 AS days,
       coalesce(covered.covered_days, 0) AS covered_days,
       count(month_runs.run_id) AS runs,
       count(month_runs.run_id) FILTER (WHERE month_runs.status = 'completed') AS completed_runs,
       count(month_runs.run_id) FILTER (WHERE month_runs.status = 'failed') AS failed_runs,
       list_sort(list_distinct(flatten(list(month_runs.callers)))) AS callers,
       list_sort(list_distinct(flatten(list(month_runs.dataset_ids)))) AS datasets
FROM months
LEFT JOIN covered USING (month)
LEFT JOIN month_runs USING (month)
GROUP BY months.month, covered.covered_days
ORDER BY months.month;
