select distinct
    run_id,
    unnest(dataset_ids) as dataset_id
from {{ ref('runs') }}
