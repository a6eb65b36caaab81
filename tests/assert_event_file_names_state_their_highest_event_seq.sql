-- Contract: an event file named `...-seq<19 digits>.parquet` (every file our writers and
-- compaction write to runset_events, resolutions and run_tags) holds records whose highest
-- event_seq is exactly that number. The next event_seq is taken from these names without
-- opening the files, so a name that understates its records would hand out an event_seq twice.
-- A file without such a name is read instead, and is not checked here. Fails with one row per
-- file whose name disagrees with its records.
with event_files as (
    select source_file, event_seq from {{ ref('stg_runset_events') }}
    union all
    select source_file, event_seq from {{ ref('stg_resolutions') }}
    union all
    select source_file, event_seq from {{ ref('stg_run_tags') }}
)

select
    source_file,
    cast(regexp_extract(source_file, '-seq([0-9]{19})\.parquet$', 1) as bigint) as event_seq_in_name,
    max(event_seq) as highest_event_seq
from event_files
where regexp_matches(source_file, '-seq[0-9]{19}\.parquet$')
group by source_file
having event_seq_in_name <> max(event_seq)
