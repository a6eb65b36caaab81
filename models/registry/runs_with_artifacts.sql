-- Artifacts are aggregated per run before the join: one row per run, nothing multiplied.
-- Incremental: an incremental build recomputes the rows of the runs it read (stg_runs). That is
-- every run whose row can change: an artifact is appended together with its run, never added to
-- a run registered earlier (assert_incremental_artifacts_come_with_their_runs makes such a lake
-- fall back to a full build).
{{ config(materialized='incremental', unique_key='run_id', incremental_strategy='delete+insert', on_schema_change='fail') }}
-- depends_on: {{ ref('stg_runs') }}

with runs as (
    select *
    from {{ ref('runs') }}
    {%- if is_incremental() %}
    where run_id in (select run_id from {{ ref('stg_runs') }})
    {%- endif %}
),

artifacts_per_run as (
    select
        run_id,
        count(*) as artifact_count,
        list_sort(list_distinct(list(kind))) as artifact_kinds,
        sum(row_count) as artifact_rows
    from {{ ref('artifacts') }}
    {%- if is_incremental() %}
    where run_id in (select run_id from runs)
    {%- endif %}
    group by run_id
)

select
    runs.* exclude (artifact_count),  -- the count below is computed; a contract checks they agree
    coalesce(artifacts_per_run.artifact_count, 0) as artifact_count,
    coalesce(artifacts_per_run.artifact_kinds, []) as artifact_kinds,
    cast(coalesce(artifacts_per_run.artifact_rows, 0) as bigint) as artifact_rows
from runs
left join artifacts_per_run on artifacts_per_run.run_id = runs.run_id
