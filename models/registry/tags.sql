-- A tag is on a RunSet or a run iff its latest (highest event_seq) tagged/untagged event for
-- that target is `tagged`. Tags of deleted RunSets stay: deletion is a state of its own.
select
    target_type,
    target_id,
    tag
from {{ ref('event_log') }}
where event in ('tagged', 'untagged')
    and tag is not null
qualify
    row_number() over (partition by target_type, target_id, tag order by event_seq desc) = 1
    and event = 'tagged'
