-- A table, not a view: the records this build read (every run file in a full build, the files
-- added since the previous build in an incremental one), read from Parquet once rather than once
-- per model and contract that uses them (see stg_artifacts.sql for what views cost).
{{ config(materialized='table') }}

{{ read_lake('runs') }}
