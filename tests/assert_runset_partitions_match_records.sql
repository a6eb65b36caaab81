-- Contract: RunSet specs are in registry/runsets/runset_id=<runset_id>/ and resolutions in
-- registry/resolutions/runset_id=<runset_id>/, and the folder agrees with every record in it.
-- A file anywhere else (directly in the table folder, or in a folder of another shape) fails.
with located as (
    select
        'runsets' as lake_table,
        runset_id as record_id,
        runset_id,
        regexp_extract(source_file, '/runsets/runset_id=([^/]+)/[^/]+$', 1) as runset_id_folder,
        source_file
    from {{ ref('stg_runsets') }}
    union all
    select
        'resolutions' as lake_table,
        resolution_id as record_id,
        runset_id,
        regexp_extract(source_file, '/resolutions/runset_id=([^/]+)/[^/]+$', 1) as runset_id_folder,
        source_file
    from {{ ref('stg_resolutions') }}
)

select
    lake_table,
    record_id,
    runset_id,
    nullif(runset_id_folder, '') as runset_id_folder,
    source_file
from located
where runset_id_folder is distinct from runset_id
