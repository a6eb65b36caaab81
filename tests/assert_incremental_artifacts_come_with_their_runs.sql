-- Contract of an incremental build: every artifact it read belongs to a run it read. The writer
-- appends a run's artifacts together with the run, and never adds one to a run registered before
-- (artifacts are part of a run's content), so an incremental build reads an artifact and its run
-- together, and the contracts that compare the two (assert_artifact_partitions_match_records)
-- see both. An artifact of a run an earlier build registered (a file written by hand) fails here;
-- `quantbot registry rebuild` then starts over as a full build, in which every contract sees every
-- record. A full build starts from an empty file: there is no earlier run and nothing to check.
{%- set earlier_runs = earlier_registry_relation('runs') %}

select
    artifacts.artifact_id,
    artifacts.run_id,
    artifacts.source_file
from {{ ref('stg_artifacts') }} as artifacts
where artifacts.run_id not in (select run_id from {{ ref('stg_runs') }} where run_id is not null)
{%- if earlier_runs is none %}
    and false
{%- else %}
    and artifacts.run_id in (select run_id from {{ earlier_runs }})
{%- endif %}
