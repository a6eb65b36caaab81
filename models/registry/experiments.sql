-- One row per experiment, with the run count of the resolution it pins. resolution_id is unique
-- in registry.resolutions: nothing multiplies. A pin to a resolution that does not exist (or of
-- another RunSet, or with another hash) fails assert_experiments_pin_an_existing_resolution.
with experiments as (
    {{ distinct_records(ref('stg_experiments')) }}
)

select
    experiments.experiment_id,
    experiments.name,
    experiments.runset_id,
    experiments.resolution_id,
    experiments.resolution_hash,
    resolutions.run_count,
    experiments.params,
    experiments.description,
    experiments.registered_at as created_at
from experiments
left join {{ ref('resolutions') }} as resolutions
    on resolutions.resolution_id = experiments.resolution_id
