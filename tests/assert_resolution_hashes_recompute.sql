-- Contract: every resolution's members are stored sorted and without duplicates, its
-- resolution_hash is the sha256 of them joined with newlines (the empty set hashes the empty
-- string), as quantbot_dbt.resolver.resolution_hash_for computes it, and run_count is their
-- number; and its resolution_id is the sha256 of {"event_seq":..,"resolution_hash":..,"runset_id":..}
-- (resolver.resolution_id_for). A member list edited after the fact fails here. One row per bad
-- record, with its file.
-- Sorted and distinct is checked by comparing neighbours (a null member fails too), and the hash
-- is of the list as stored, which is the sorted one whenever the row passes: sorting and
-- de-duplicating 1,000 lists of ~6k runs again made this contract ~6 s of a 1M-run build;
-- comparing neighbours, ~2 s.
with recomputed as (
    select
        *,
        sha256(array_to_string(run_ids, chr(10))) as recomputed_resolution_hash,
        sha256('{"event_seq":' || event_seq || ',"resolution_hash":' || cast(to_json(resolution_hash) as varchar)
               || ',"runset_id":' || cast(to_json(runset_id) as varchar) || '}') as recomputed_resolution_id,
        len(list_filter(run_ids, lambda run_id: run_id is null)) = 0
            and coalesce(  -- null when there are no neighbours: zero or one member
                list_bool_and(list_transform(range(1, len(run_ids)), lambda i: run_ids[i] < run_ids[i + 1])),
                true
            ) as members_sorted_and_distinct
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
    not members_sorted_and_distinct as members_unsorted_or_repeated,
    source_file
from recomputed
where run_ids is not null
    and (
        resolution_hash is distinct from recomputed_resolution_hash
        or resolution_id is distinct from recomputed_resolution_id
        or run_count is distinct from len(run_ids)
        or not members_sorted_and_distinct
    )
