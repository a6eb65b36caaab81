{#-
    artifact_identity_json(...): the canonical JSON an artifact_id is the sha256 of.

    Built exactly as quantbot_dbt.ids.artifact_id_for builds it in Python:
    {"content_hash":...,"kind":...,"run_id":...}, keys sorted, no whitespace.
    Arguments are SQL expressions; by default the columns of the same name.
-#}
{% macro artifact_identity_json(content_hash='content_hash', kind='kind', run_id='run_id') -%}
    '{"content_hash":' || cast(to_json({{ content_hash }}) as varchar)
    || ',"kind":' || cast(to_json({{ kind }}) as varchar)
    || ',"run_id":' || cast(to_json({{ run_id }}) as varchar)
    || '}'
{%- endmacro %}
