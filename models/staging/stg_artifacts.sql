-- The records this build read: every artifact file in a full build, the files added since the
-- previous build in an incremental one. A view, like every staging model: DuckDB reads these
-- Parquet files again for each model and contract that uses them, which at 1M runs (5M
-- artifacts) costs less than writing them into a table first (7.9 s).

{{ read_lake('artifacts') }}
