-- One row per member of each resolution, unnested from the records read. registry.resolutions
-- keeps no copy of the lists: at 1M runs (1,000 resolutions of ~10k members) the copy cost a
-- full build ~13 s, half of it a single-threaded checkpoint of one row group of 10M strings.
with resolutions as (
    {{ distinct_records(ref('stg_resolutions'), 'resolution_id') }}
)

select
    resolution_id,
    runset_id,
    unnest(run_ids) as run_id
from resolutions
