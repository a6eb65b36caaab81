-- The magic join table: the members of each RunSet that is not deleted, taken from its current
-- resolution (the pinned one if frozen, else the latest). One resolution per RunSet and one row
-- per member of a resolution, so one row per (runset_id, run_id).
select
    runsets.runset_id,
    members.run_id,
    members.resolution_id,
    runsets.frozen
from {{ ref('runsets') }} as runsets
inner join {{ ref('resolution_members') }} as members
    on members.resolution_id = runsets.current_resolution_id
    and members.runset_id = runsets.runset_id
where not runsets.deleted
