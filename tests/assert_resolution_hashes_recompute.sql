-- Contract: every resolution's members are stored sorted and without duplicates, its
-- resolution_hash is the sha256 of them joined with newlines (the empty set hashes the empty
-- string), as quantbot_dbt.resolver.resolution_hash_for computes it, and run_count is their
-- number. A member list edited after the fact fails here. One row per bad record, with its file.
select
    resolution_id,
    runset_id,
    resolution_hash,
    sha256(array_to_string(list_sort(run_ids), chr(10))) as recomputed_resolution_hash,
    run_count,
    len(run_ids) as member_count,
    run_ids is distinct from list_sort(list_distinct(run_ids)) as members_unsorted_or_repeated,
    source_file
from {{ ref('stg_resolutions') }}
where run_ids is not null
    and (
        resolution_hash is distinct from sha256(array_to_string(list_sort(run_ids), chr(10)))
        or run_count is distinct from len(run_ids)
        or run_ids is distinct from list_sort(list_distinct(run_ids))
    )
