-- Contract: a run file is in registry/runs/engine_version=<engine_version>/month=<YYYY-MM of
-- window_from>/, and both folders agree with every record in it. A file anywhere else (directly
-- in registry/runs/, or in a folder of another shape) fails too. Readers prune by these folders.
-- The folders are parsed once per file, not once per record.
with file_folders as (
    select
        source_file,
        regexp_extract(
            source_file,
            '/runs/engine_version=([^/]+)/month=([^/]+)/[^/]+$',
            ['engine_version_folder', 'month_folder']
        ) as folders
    from (select distinct source_file from {{ ref('stg_runs') }})
),

located as (
    select
        runs.run_id,
        runs.engine_version,
        runs.window_from,
        runs.source_file,
        file_folders.folders
    from {{ ref('stg_runs') }} as runs
    left join file_folders using (source_file)
)

select
    run_id,
    engine_version,
    strftime(window_from, '%Y-%m') as window_from_month,
    nullif(folders.engine_version_folder, '') as engine_version_folder,
    nullif(folders.month_folder, '') as month_folder,
    source_file
from located
where folders.engine_version_folder is distinct from engine_version
   or folders.month_folder is distinct from strftime(window_from, '%Y-%m')
