-- One row per RunSet that is not deleted, with its current resolution (the pinned one if
-- frozen, else the latest). resolution_id is unique in registry.resolutions: nothing multiplies.
select
    runsets.runset_id,
    runsets.names,
    runsets.tags,
    runsets.description,
    runsets.frozen,
    runsets.created_at,
    resolutions.resolution_id,
    resolutions.resolution_hash,
    resolutions.resolved_at,
    resolutions.resolver_version,
    resolutions.run_count,
    resolutions.artifact_count
from {{ ref('runsets') }} as runsets
left join {{ ref('resolutions') }} as resolutions
    on resolutions.resolution_id = runsets.current_resolution_id
    and resolutions.runset_id = runsets.runset_id
where not runsets.deleted
