-- One row per dataset. run_datasets has one row per (run, dataset) and runs_with_artifacts one
-- row per run (artifacts already aggregated), so each run of a dataset is counted once.
with runs_of_datasets as (
    select
        datasets.dataset_id,
        runs.run_id,
        runs.status,
        runs.window_from,
        runs.window_to,
        runs.artifact_count,
        (datasets.window_from is not null and runs.window_from < datasets.window_from)
            or (datasets.window_to is not null and runs.window_to > datasets.window_to) as is_outside_window
    from {{ ref('datasets') }} as datasets
    inner join {{ ref('run_datasets') }} as run_datasets on run_datasets.dataset_id = datasets.dataset_id
    inner join {{ ref('runs_with_artifacts') }} as runs on runs.run_id = run_datasets.run_id
),

coverage as (
    select
        dataset_id,
        count(*) as run_count,
        count(*) filter (where status = 'completed') as completed_run_count,
        count(*) filter (where status = 'failed') as failed_run_count,
        min(window_from) as runs_window_from,
        max(window_to) as runs_window_to,
        count(*) filter (where is_outside_window) as runs_outside_window,
        sum(artifact_count) as artifact_count
    from runs_of_datasets
    group by dataset_id
)

select
    datasets.dataset_id,
    datasets.kind,
    datasets.window_from,
    datasets.window_to,
    coalesce(coverage.run_count, 0) as run_count,
    coalesce(coverage.completed_run_count, 0) as completed_run_count,
    coalesce(coverage.failed_run_count, 0) as failed_run_count,
    coverage.runs_window_from,
    coverage.runs_window_to,
    coalesce(coverage.runs_outside_window, 0) as runs_outside_window,
    cast(coalesce(coverage.artifact_count, 0) as bigint) as artifact_count
from {{ ref('datasets') }} as datasets
left join coverage on coverage.dataset_id = datasets.dataset_id
