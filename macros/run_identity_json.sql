{#-
    run_identity_json(...): the canonical JSON a run_id is the sha256 of.

    Built exactly as quantbot_dbt.ids.run_identity + canonical_json build it in Python
    (json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)): keys sorted,
    no whitespace, callers and dataset_ids sorted and de-duplicated, dates YYYY-MM-DD.
    Arguments are SQL expressions; by default the columns of the same name.
-#}
{% macro run_identity_json(callers='callers', dataset_ids='dataset_ids', engine_version='engine_version', seed='seed', strategy_hash='strategy_hash', window_from='window_from', window_to='window_to') -%}
    '{"callers":' || cast(to_json(list_sort(list_distinct({{ callers }}))) as varchar)
    || ',"dataset_ids":' || cast(to_json(list_sort(list_distinct({{ dataset_ids }}))) as varchar)
    || ',"engine_version":' || cast(to_json({{ engine_version }}) as varchar)
    || ',"seed":' || cast({{ seed }} as varchar)
    || ',"strategy_hash":' || cast(to_json({{ strategy_hash }}) as varchar)
    || ',"window_from":"' || strftime({{ window_from }}, '%Y-%m-%d')
    || '","window_to":"' || strftime({{ window_to }}, '%Y-%m-%d')
    || '"}'
{%- endmacro %}
