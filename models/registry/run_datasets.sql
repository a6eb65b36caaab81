-- One row per (run, dataset it read). Incremental: a run's dataset_ids are part of its identity,
-- so the rows of a run never change; an incremental build adds (or replaces) the rows of the runs
-- it read (stg_runs).
{{ config(materialized='incremental', unique_key='run_id', incremental_strategy='delete+insert', on_schema_change='fail') }}
-- depends_on: {{ ref('stg_runs') }}

select distinct
    run_id,
    unnest(dataset_ids) as dataset_id
from {{ ref('runs') }}
{%- if is_incremental() %}
where run_id in (select run_id from {{ ref('stg_runs') }})
{%- endif %}
