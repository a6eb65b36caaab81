-- Contract: event_seq is one lake-wide sequence: no two records of runset_events, resolutions
-- and run_tags share one, so every state change is totally ordered and nothing ties. (Two
-- different records with one event_seq inside runset_events or run_tags, where it is the id,
-- fail their one_content_per_event_seq test instead.) Fails with one row per event_seq used
-- twice, naming the records and their files.
with claims as (
    select event_seq, 'runset_events' as record, source_file
    from {{ ref('stg_runset_events') }}
    union all
    select event_seq, 'resolutions ' || resolution_id as record, source_file
    from {{ ref('stg_resolutions') }}
    union all
    select event_seq, 'run_tags' as record, source_file
    from {{ ref('stg_run_tags') }}
)

select
    event_seq,
    list_sort(list(distinct record)) as records,
    list_sort(list(distinct source_file)) as source_files
from claims
group by event_seq
having count(distinct record) > 1
