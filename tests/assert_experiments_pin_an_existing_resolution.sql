-- Contract: every experiment pins a resolution that exists, belongs to the experiment's RunSet,
-- and has the resolution_hash the experiment recorded; so an experiment's runs are exactly the
-- members of that resolution, whatever its RunSet did since. Fails with one row per bad
-- experiment, saying what is wrong.
select
    experiments.experiment_id,
    experiments.name,
    experiments.runset_id,
    experiments.resolution_id,
    experiments.resolution_hash,
    resolutions.runset_id as resolution_runset_id,
    resolutions.resolution_hash as resolution_resolution_hash,
    case
        when resolutions.resolution_id is null then 'the resolution does not exist'
        when resolutions.runset_id <> experiments.runset_id then 'the resolution is of RunSet ' || resolutions.runset_id
        else 'the resolution has resolution_hash ' || resolutions.resolution_hash
    end as problem
from {{ ref('experiments') }} as experiments
left join {{ ref('resolutions') }} as resolutions
    on resolutions.resolution_id = experiments.resolution_id
where resolutions.resolution_id is null
    or resolutions.runset_id is distinct from experiments.runset_id
    or resolutions.resolution_hash is distinct from experiments.resolution_hash
