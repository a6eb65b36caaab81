-- Contract: a run's artifact_count (written with the run; resolve sums it instead of reading
-- the artifact files) is the number of artifacts registered for it. A run file that does not
-- say (NULL) is not checked: resolve counts those runs' artifacts from the artifact files.
with artifacts_per_run as (
    select run_id, count(*) as registered_artifacts
    from {{ ref('artifacts') }}
    group by run_id
)

select
    runs.run_id,
    runs.artifact_count,
    coalesce(artifacts_per_run.registered_artifacts, 0) as registered_artifacts
from {{ ref('runs') }} as runs
left join artifacts_per_run on artifacts_per_run.run_id = runs.run_id
where runs.artifact_count is not null
  and runs.artifact_count <> coalesce(artifacts_per_run.registered_artifacts, 0)
