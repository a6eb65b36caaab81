-- Contract: a run file is in registry/runs/engine_version=<engine_version>/day=<window_from>/,
-- and both folders agree with every record in it. A file anywhere else (directly in
-- registry/runs/, or in a folder of another shape) fails too.
with located as (
    select
        run_id,
        engine_version,
        window_from,
        source_file,
        regexp_extract(
            source_file,
            '/runs/engine_version=([^/]+)/day=([^/]+)/[^/]+$',
            ['engine_version_folder', 'day_folder']
        ) as folders
    from {{ ref('stg_runs') }}
)

select
    run_id,
    engine_version,
    strftime(window_from, '%Y-%m-%d') as window_from,
    nullif(folders.engine_version_folder, '') as engine_version_folder,
    nullif(folders.day_folder, '') as day_folder,
    source_file
from located
where folders.engine_version_folder is distinct from engine_version
   or folders.day_folder is distinct from strftime(window_from, '%Y-%m-%d')
