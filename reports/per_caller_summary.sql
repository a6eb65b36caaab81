-- Per caller: runs (a run with two callers counts for each), completed and failed, trades, total PnL and win rate
-- Trades are aggregated per run first, then joined to one row per (run, caller):
-- a run's trades count once for each of its callers and are never multiplied further.
WITH run_trades AS (
    SELECT run_id,
           count(*) AS trades,
           sum(pnl) AS total_pnl,
           count(*) FILTER (WHERE pnl > 0) AS winning_trades
    FROM trades
    GROUP BY run_id
),
run_callers AS (
    SELECT run_id, status, unnest(callers) AS caller
    FROM runs
)
SELECT run_callers.caller,
       count(*) AS runs,
       count(*) FILTER (WHERE run_callers.status = 'completed') AS completed_runs,
       count(*) FILTER (WHERE run_callers.status = 'failed') AS failed_runs,
       coalesce(sum(run_trades.trades), 0) AS trades,
       round(sum(run_trades.total_pnl), 2) AS total_pnl,
       round(sum(run_trades.winning_trades) / sum(run_trades.trades), 4) AS win_rate
FROM run_callers
LEFT JOIN run_trades USING (run_id)
GROUP BY run_callers.caller
ORDER BY run_callers.caller;
