-- Per run: strategy, window and status, trades, total PnL and win rate from its trades, and its recorded metrics
-- Trades are counted per run before the join, so nothing is multiplied; a run without a
-- trades artifact (a failed run) keeps its row with 0 trades and no PnL.
WITH run_trades AS (
    SELECT run_id,
           count(*) AS trades,
           sum(pnl) AS total_pnl,
           count(*) FILTER (WHERE pnl > 0) AS winning_trades
    FROM trades
    GROUP BY run_id
)
SELECT runs.run_id,
       runs.strategy_family,
       runs.engine_version,
       runs.window_from,
       runs.window_to,
       runs.status,
       coalesce(run_trades.trades, 0) AS trades,
       round(run_trades.total_pnl, 2) AS total_pnl,
       round(run_trades.winning_trades / run_trades.trades, 4) AS win_rate,
       runs.metrics['max_drawdown'] AS max_drawdown,
       runs.metrics AS metrics
FROM runs
LEFT JOIN run_trades USING (run_id)
ORDER BY runs.window_from, runs.run_id;
