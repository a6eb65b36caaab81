-- Contract: a run file is in registry/runs/engine_version=<engine_version>/month=<YYYY-MM of
-- window_from>/, and both folders agree with every record in it. A file anywhere else (directly
-- in registry/runs/, or in a folder of another shape) fails too. Readers prune by these folders.
-- The records are first counted per file, engine version and month, and only those groups'
-- folders are parsed (see assert_artifact_partitions_match_records). A failing row is a group:
-- how many runs, and the first of them.
with record_groups as (
    select
        source_file,
        engine_version,
        strftime(window_from, '%Y-%m') as window_from_month,
        count(*) as run_count,
        min(run_id) as first_run_id
    from {{ ref('stg_runs') }}
    group by all
),

located as (
    select
        *,
        regexp_extract(
            source_file,
            '/runs/engine_version=([^/]+)/month=([^/]+)/[^/]+$',
            ['engine_version_folder', 'month_folder']
        ) as folders
    from record_groups
)

select
    first_run_id,
    run_count,
    engine_version,
    window_from_month,
    nullif(folders.engine_version_folder, '') as engine_version_folder,
    nullif(folders.month_folder, '') as month_folder,
    source_file
from located
where folders.engine_version_folder is distinct from engine_version
   or folders.month_folder is distinct from window_from_month
