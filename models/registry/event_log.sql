-- Every state change of the lake in one log, ordered by the lake-wide event_seq: RunSet events,
-- resolutions (as `resolved` events of their RunSet) and run tag changes. A record sent twice
-- is one row. The RunSet state in registry.runsets and the tags in registry.tags are read
-- from here, so both follow the same rule: per kind of change, the highest event_seq wins.
with runset_events as (
    {{ distinct_records(ref('stg_runset_events')) }}
),

resolutions as (
    {{ distinct_records(ref('stg_resolutions'), 'resolution_id') }}
),

run_tags as (
    {{ distinct_records(ref('stg_run_tags')) }}
)

select
    event_seq,
    'runset' as target_type,
    runset_id as target_id,
    event,
    resolution_id,
    tag,
    description,
    registered_at
from runset_events

union all

select
    event_seq,
    'runset' as target_type,
    runset_id as target_id,
    'resolved' as event,
    resolution_id,
    null as tag,
    null as description,
    registered_at
from resolutions

union all

select
    event_seq,
    'run' as target_type,
    run_id as target_id,
    event,
    null as resolution_id,
    tag,
    null as description,
    registered_at
from run_tags
