-- Contract: a resolution lists each member once and no null member, so resolution_members is
-- unique on (resolution_id, run_id) (resolution_id is the primary key of resolutions). Checked
-- on the lists themselves: a primary key on resolution_members would need an index of every
-- member of every resolution in memory. Fails with one row per resolution whose list repeats
-- a run id or holds a null.
select
    resolution_id,
    len(run_ids) as listed,
    len(list_distinct(run_ids)) as distinct_members
from {{ ref('resolutions') }}
where len(run_ids) <> len(list_distinct(run_ids))  -- list_distinct drops nulls too
