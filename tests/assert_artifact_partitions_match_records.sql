-- Contract: an artifact file is in registry/artifacts/kind=<kind>/day=<day>/, and the kind
-- folder agrees with every record in it. A file anywhere else (directly in
-- registry/artifacts/, or in a folder of another shape) fails too.
with located as (
    select
        artifact_id,
        kind,
        source_file,
        regexp_extract(
            source_file,
            '/artifacts/kind=([^/]+)/day=([^/]+)/[^/]+$',
            ['kind_folder', 'day_folder']
        ) as folders
    from {{ ref('stg_artifacts') }}
)

select
    artifact_id,
    kind,
    nullif(folders.kind_folder, '') as kind_folder,
    nullif(folders.day_folder, '') as day_folder,
    source_file
from located
where folders.kind_folder is distinct from kind
   or folders.day_folder = ''
