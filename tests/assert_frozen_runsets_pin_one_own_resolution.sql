-- Contract: every `frozen` event pins a resolution that exists, belongs to the RunSet frozen
-- and was made before the freeze (a freeze pins what was already resolved); so a frozen RunSet
-- has exactly one pinned resolution, its own, and registry.resolutions flags just that one.
-- Fails with one row per bad freeze event and per frozen RunSet without exactly one pin.
with resolutions as (
    select resolution_id, runset_id, event_seq, is_pinned
    from {{ ref('resolutions') }}
),

freezes as (
    select
        events.target_id as runset_id,
        events.event_seq,
        events.resolution_id,
        resolutions.runset_id as resolution_runset_id,
        resolutions.event_seq as resolution_event_seq
    from {{ ref('event_log') }} as events
    left join resolutions on resolutions.resolution_id = events.resolution_id
    where events.target_type = 'runset'
        and events.event = 'frozen'
),

bad_freezes as (
    select
        runset_id,
        event_seq as frozen_event_seq,
        resolution_id,
        case
            when resolution_id is null then 'frozen event pins no resolution'
            when resolution_runset_id is null then 'frozen event pins a resolution that does not exist'
            when resolution_runset_id <> runset_id then 'frozen event pins a resolution of RunSet ' || resolution_runset_id
            else 'frozen event pins a resolution made after it'
        end as problem
    from freezes
    where resolution_runset_id is distinct from runset_id
        or resolution_event_seq > event_seq
),

bad_pins as (
    select
        runsets.runset_id,
        null as frozen_event_seq,
        runsets.pinned_resolution_id as resolution_id,
        'frozen RunSet with ' || count(resolutions.resolution_id) || ' pinned resolutions of its own' as problem
    from {{ ref('runsets') }} as runsets
    left join resolutions
        on resolutions.runset_id = runsets.runset_id
        and resolutions.is_pinned
    where runsets.frozen
    group by all
    having count(resolutions.resolution_id) <> 1
)

select * from bad_freezes
union all
select * from bad_pins
