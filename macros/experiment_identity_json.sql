{#-
    experiment_identity_json(...): the canonical JSON an experiment_id is the sha256 of.

    Built exactly as quantbot_dbt.experiments.experiment_identity + ids.canonical_json build it
    in Python: {"name":...,"params":{...},"resolution_id":...,"runset_id":...}, keys sorted
    (params too), no whitespace, text without \u escapes of non-ASCII characters (param values
    with control characters are refused when an experiment is created: DuckDB escapes a few of
    them in upper-case hex, Python in lower case). Arguments are SQL expressions; by default
    the columns of the same name.
-#}
{% macro experiment_identity_json(name='name', params='params', resolution_id='resolution_id', runset_id='runset_id') -%}
    '{"name":' || cast(to_json({{ name }}) as varchar)
    || ',"params":' || cast(to_json(map_from_entries(list_sort(map_entries({{ params }})))) as varchar)
    || ',"resolution_id":' || cast(to_json({{ resolution_id }}) as varchar)
    || ',"runset_id":' || cast(to_json({{ runset_id }}) as varchar)
    || '}'
{%- endmacro %}
