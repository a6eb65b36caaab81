-- Artifacts are aggregated per run before the join: one row per run, nothing multiplied.
with artifacts_per_run as (
    select
        run_id,
        count(*) as artifact_count,
        list_sort(list_distinct(list(kind))) as artifact_kinds,
        sum(row_count) as artifact_rows
    from {{ ref('artifacts') }}
    group by run_id
)

select
    runs.* exclude (artifact_count),  -- the count below is computed; a contract checks they agree
    coalesce(artifacts_per_run.artifact_count, 0) as artifact_count,
    coalesce(artifacts_per_run.artifact_kinds, []) as artifact_kinds,
    cast(coalesce(artifacts_per_run.artifact_rows, 0) as bigint) as artifact_rows
from {{ ref('runs') }} as runs
left join artifacts_per_run on artifacts_per_run.run_id = runs.run_id
