-- One row per RunSet, deleted ones included (they stay auditable). The spec is parsed into
-- columns; the state comes from the event log, where per kind of change the highest event_seq
-- wins: deleted/revived, frozen/unfrozen (a freeze pins its resolution), resolved, described.
with specs as (
    {{ distinct_records(ref('stg_runsets')) }}
),

parsed as (
    select
        runset_id,
        spec_json,
        registered_at,
        -- Invalid JSON or a key of the wrong type parses as NULL instead of failing the build:
        -- the assert_runset_specs_are_valid_and_canonical test names the spec instead.
        case when json_valid(spec_json) then from_json(spec_json, '{
            "callers": ["VARCHAR"],
            "datasets": ["VARCHAR"],
            "engine_versions": ["VARCHAR"],
            "match": "VARCHAR",
            "run_ids": ["VARCHAR"],
            "run_tags": ["VARCHAR"],
            "status": "VARCHAR",
            "strategy_family": "VARCHAR",
            "strategy_hashes": ["VARCHAR"],
            "window_from": "VARCHAR",
            "window_to": "VARCHAR"
        }') end as spec
    from specs
),

names as (
    select
        runset_id,
        list_sort(list(name)) as names
    from {{ ref('runset_names') }}
    group by runset_id
),

runset_tags as (
    select
        target_id as runset_id,
        list_sort(list(tag)) as tags
    from {{ ref('tags') }}
    where target_type = 'runset'
    group by target_id
),

state as (
    select
        target_id as runset_id,
        arg_max(event, event_seq) filter (where event in ('deleted', 'revived')) as deletion_event,
        arg_max(event, event_seq) filter (where event in ('frozen', 'unfrozen')) as freeze_event,
        arg_max_null(resolution_id, event_seq) filter (where event in ('frozen', 'unfrozen')) as freeze_resolution_id,
        arg_max(resolution_id, event_seq) filter (where event = 'resolved') as latest_resolution_id,
        arg_max_null(description, event_seq) filter (where event = 'described') as description
    from {{ ref('event_log') }}
    where target_type = 'runset'
    group by target_id
),

runsets as (
    select
        parsed.runset_id,
        coalesce(names.names, []) as names,
        parsed.spec_json,
        parsed.spec.datasets as datasets,
        parsed.spec.callers as callers,
        try_cast(parsed.spec.window_from as date) as window_from,
        try_cast(parsed.spec.window_to as date) as window_to,
        parsed.spec.match as match,
        parsed.spec.strategy_hashes as strategy_hashes,
        parsed.spec.strategy_family as strategy_family,
        parsed.spec.engine_versions as engine_versions,
        parsed.spec.status as status,
        parsed.spec.run_tags as run_tags,
        parsed.spec.run_ids as run_ids,
        coalesce(runset_tags.tags, []) as tags,
        state.description,
        coalesce(state.freeze_event = 'frozen', false) as frozen,
        coalesce(state.deletion_event = 'deleted', false) as deleted,
        case when state.freeze_event = 'frozen' then state.freeze_resolution_id end as pinned_resolution_id,
        state.latest_resolution_id,
        parsed.registered_at as created_at
    from parsed
    left join names on names.runset_id = parsed.runset_id
    left join runset_tags on runset_tags.runset_id = parsed.runset_id
    left join state on state.runset_id = parsed.runset_id
)

select
    * exclude (created_at),
    case when frozen then pinned_resolution_id else latest_resolution_id end as current_resolution_id,
    created_at
from runsets
