{#-
    runset_spec_json(...): the canonical JSON of a RunSet spec, rebuilt from its parsed columns.

    Built as quantbot_dbt.resolver builds the spec and ids.canonical_json serialises it:
    keys sorted, no whitespace, lists of names sorted and de-duplicated, dates YYYY-MM-DD;
    `datasets` and `status` always, every other key only when given (a list only when not
    empty). A stored spec_json that differs from it is not canonical: an unknown key, keys or
    list items out of order, whitespace, a malformed date.
    Arguments are SQL expressions; by default the columns of registry.runsets.
-#}
{% macro runset_spec_json(callers='callers', datasets='datasets', engine_versions='engine_versions', match='match', run_ids='run_ids', run_tags='run_tags', status='status', strategy_family='strategy_family', strategy_hashes='strategy_hashes', window_from='window_from', window_to='window_to') -%}
    '{' || concat_ws(',',
        {{ _runset_spec_list('callers', callers) }},
        '"datasets":' || cast(to_json(list_sort(list_distinct({{ datasets }}))) as varchar),
        {{ _runset_spec_list('engine_versions', engine_versions) }},
        '"match":' || cast(to_json({{ match }}) as varchar),
        {{ _runset_spec_list('run_ids', run_ids) }},
        {{ _runset_spec_list('run_tags', run_tags) }},
        '"status":' || cast(to_json({{ status }}) as varchar),
        '"strategy_family":' || cast(to_json({{ strategy_family }}) as varchar),
        {{ _runset_spec_list('strategy_hashes', strategy_hashes) }},
        '"window_from":"' || strftime({{ window_from }}, '%Y-%m-%d') || '"',
        '"window_to":"' || strftime({{ window_to }}, '%Y-%m-%d') || '"'
    ) || '}'
{%- endmacro %}


{#- One optional list key: absent (NULL, skipped by concat_ws) when null or empty. -#}
{% macro _runset_spec_list(key, expression) -%}
    case when len({{ expression }}) > 0 then '"{{ key }}":' || cast(to_json(list_sort(list_distinct({{ expression }}))) as varchar) end
{%- endmacro %}
