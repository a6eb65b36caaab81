select
    resolution_id,
    runset_id,
    unnest(run_ids) as run_id
from {{ ref('resolutions') }}
