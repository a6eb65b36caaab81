{#-
    read_lake(table_name): the records of one lake table, typed.

    The one place that reads the lake; another engine only has to supply its own
    <adapter>__read_lake. Reads <lake>/registry/<table_name>/**/*.parquet, where <lake> is
    env_var('QUANTBOT_LAKE', 'lake'), and returns every column the calling model declares in
    its YAML (`data_type`), cast to that type, plus `source_file` (the file the record is in).
    A column no file has yet comes back NULL; columns no model declares are dropped; map
    columns are sorted by key, so the same map written in another key order is the same content.
    An empty or missing table folder gives the same typed columns and zero rows.
-#}
{% macro read_lake(table_name) -%}
    {{ return(adapter.dispatch('read_lake', 'quantbot')(table_name)) }}
{%- endmacro %}


{% macro duckdb__read_lake(table_name) -%}
    {#- At parse time the model's YAML columns are not attached yet: nothing to build. -#}
    {%- if not execute -%}
        {{ return('select 1 as parsing') }}
    {%- endif -%}

    {%- set lake_glob = env_var('QUANTBOT_LAKE', 'lake') ~ '/registry/' ~ table_name ~ '/**/*.parquet' -%}
    {%- set glob_literal = "'" ~ (lake_glob | replace("'", "''")) ~ "'" -%}
    {%- set columns = [] -%}
    {%- for column in model.columns.values() if column.name != 'source_file' -%}
        {%- if not column.data_type -%}
            {{ exceptions.raise_compiler_error("read_lake: column " ~ column.name ~ " of " ~ model.name ~ " has no data_type in its YAML") }}
        {%- endif -%}
        {%- do columns.append(column) -%}
    {%- endfor -%}
    {%- if not columns -%}
        {{ exceptions.raise_compiler_error("read_lake: " ~ model.name ~ " declares no columns in its YAML") }}
    {%- endif -%}

    {#- Decided when the model runs, because read_parquet fails on a glob that matches no file. -#}
    {%- set file_count = run_query('select count(*) from glob(' ~ glob_literal ~ ')').columns[0].values()[0] -%}

    {%- if file_count > 0 %}
select
    {%- for column in columns %}
    {% if column.data_type.strip().upper().startswith('MAP') -%}
    map_from_entries(list_sort(map_entries(cast({{ adapter.quote(column.name) }} as {{ column.data_type }}))))
    {%- else -%}
    cast({{ adapter.quote(column.name) }} as {{ column.data_type }})
    {%- endif %} as {{ adapter.quote(column.name) }},
    {%- endfor %}
    cast(filename as varchar) as source_file
from (
    select * from read_parquet({{ glob_literal }}, union_by_name = true, hive_partitioning = false, filename = true)
    {#- A typed shape for every declared column, so that one no file has yet reads as NULL. #}
    union all by name
    select {% for column in columns %}null as {{ adapter.quote(column.name) }}, {% endfor %}null as filename
    where false
)
    {%- else %}
select
    {%- for column in columns %}
    cast(null as {{ column.data_type }}) as {{ adapter.quote(column.name) }},
    {%- endfor %}
    cast(null as varchar) as source_file
where false
    {%- endif %}
{%- endmacro %}
