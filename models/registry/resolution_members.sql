-- One row per member of each resolution, unnested from the records read. registry.resolutions
-- keeps no copy of the lists: at 1M runs (1,000 resolutions, 6.3M member ids) the copy cost a
-- full build ~13 s, half of it a single-threaded checkpoint of its one row group.
with resolutions as (
    {{ distinct_records(ref('stg_resolutions'), 'resolution_id') }}
)

select
    resolution_id,
    runset_id,
    unnest(run_ids) as run_id
from resolutions
