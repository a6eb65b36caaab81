-- Contract: every resolution's members are stored sorted and without duplicates, its
-- resolution_hash is the sha256 of them joined with newlines (the empty set hashes the empty
-- string), as quantbot_dbt.resolver.resolution_hash_for computes it, and run_count is their
-- number; and its resolution_id is the sha256 of {"event_seq":..,"resolution_hash":..,"runset_id":..}
-- (resolver.resolution_id_for). A member list edited after the fact fails here. One row per bad
-- record, with its file.
with recomputed as (
    select
        *,
        sha256(array_to_string(list_sort(run_ids), chr(10))) as recomputed_resolution_hash,
        sha256('{"event_seq":' || event_seq || ',"resolution_hash":' || cast(to_json(resolution_hash) as varchar)
               || ',"runset_id":' || cast(to_json(runset_id) as varchar) || '}') as recomputed_resolution_id
    from {{ ref('stg_resolutions') }}
)

select
    resolution_id,
    runset_id,
    resolution_hash,
    recomputed_resolution_hash,
    recomputed_resolution_id,
    run_count,
    len(run_ids) as member_count,
    run_ids is distinct from list_sort(list_distinct(run_ids)) as members_unsorted_or_repeated,
    source_file
from recomputed
where run_ids is not null
    and (
        resolution_hash is distinct from recomputed_resolution_hash
        or resolution_id is distinct from recomputed_resolution_id
        or run_count is distinct from len(run_ids)
        or run_ids is distinct from list_sort(list_distinct(run_ids))
    )
