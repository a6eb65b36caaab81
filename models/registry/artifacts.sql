-- One row per artifact. Incremental, as registry.runs: an incremental build folds only the
-- records of the artifact files added since the previous build into the rows already here.
{{ config(materialized='incremental', unique_key='artifact_id', incremental_strategy='delete+insert', on_schema_change='fail') }}

{% if is_incremental() -%}
{{ distinct_new_records(ref('stg_artifacts'), 'artifact_id') }}
{%- else -%}
{{ distinct_records(ref('stg_artifacts'), 'artifact_id') }}
{%- endif %}
