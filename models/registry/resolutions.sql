-- One row per resolution. is_latest and is_pinned come from registry.runsets, the one place
-- the RunSet state is derived. The members are in registry.resolution_members, one row each.
with resolutions as (
    {{ distinct_records(ref('stg_resolutions'), 'resolution_id') }}
)

select
    resolutions.resolution_id,
    resolutions.runset_id,
    resolutions.event_seq,
    resolutions.resolver_version,
    resolutions.resolution_hash,
    resolutions.run_count,
    resolutions.artifact_count,
    resolutions.coverage_json,
    resolutions.warnings,
    resolutions.registered_at as resolved_at,
    coalesce(resolutions.resolution_id = runsets.latest_resolution_id, false) as is_latest,
    coalesce(resolutions.resolution_id = runsets.pinned_resolution_id, false) as is_pinned
from resolutions
left join {{ ref('runsets') }} as runsets on runsets.runset_id = resolutions.runset_id
