-- One row per run. Incremental: a full build folds every run record; a build that starts from the
-- previous registry folds only the records of the run files added since (stg_runs) into the rows
-- already here (distinct_new_records), which gives the same rows.
{{ config(materialized='incremental', unique_key='run_id', incremental_strategy='delete+insert', on_schema_change='fail') }}

{% if is_incremental() -%}
{{ distinct_new_records(ref('stg_runs'), 'run_id') }}
{%- else -%}
{{ distinct_records(ref('stg_runs'), 'run_id') }}
{%- endif %}
