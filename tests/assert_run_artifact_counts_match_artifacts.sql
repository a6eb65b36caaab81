-- Contract: a run's artifact_count (written with the run; resolve sums it instead of reading
-- the artifact files) is the number of artifacts registered for it. A run file that does not
-- say (NULL) is not checked: resolve counts those runs' artifacts from the artifact files.
-- An incremental build checks the runs it read (stg_runs): an earlier run's count and artifacts
-- are as they were when it was checked (an artifact added to an earlier run makes the rebuild a
-- full one, see assert_incremental_artifacts_come_with_their_runs).
-- depends_on: {{ ref('stg_runs') }}
{%- set only_runs_read = execute and rebuild_kind() == 'incremental' %}
with runs_read as (
    select run_id, artifact_count
    from {{ ref('runs') }}
    {%- if only_runs_read %}
    where run_id in (select run_id from {{ ref('stg_runs') }})
    {%- endif %}
),

artifacts_per_run as (
    select run_id, count(*) as registered_artifacts
    from {{ ref('artifacts') }}
    {%- if only_runs_read %}
    where run_id in (select run_id from runs_read)
    {%- endif %}
    group by run_id
)

select
    runs_read.run_id,
    runs_read.artifact_count,
    coalesce(artifacts_per_run.registered_artifacts, 0) as registered_artifacts
from runs_read
left join artifacts_per_run on artifacts_per_run.run_id = runs_read.run_id
where runs_read.artifact_count is not null
  and runs_read.artifact_count <> coalesce(artifacts_per_run.registered_artifacts, 0)
