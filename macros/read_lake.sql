{#-
    read_lake(table_name): the records of one lake table, typed.

    The one place that reads the lake; another engine only has to supply its own
    <adapter>__read_lake. Returns every column the calling model declares in its YAML
    (`data_type`), cast to that type, plus `source_file` (the file the record is in). A column
    no file has yet comes back NULL; columns no model declares are dropped; map columns are
    sorted by key, so the same map written in another key order is the same content. No file
    to read gives the same typed columns and zero rows.

    Which files: when `quantbot registry rebuild` runs dbt (it sets QUANTBOT_REBUILD), the
    ones it planned for this build (lake_files_to_read: every file of the table in a full build;
    for the tables read incrementally, only the files added since the previous build), passed to
    the reader as an explicit list, so that DuckDB opens nothing else. Run by hand, every file
    under <lake>/registry/<table_name>/, where <lake> is env_var('QUANTBOT_LAKE', 'lake').
-#}
{% macro read_lake(table_name) -%}
    {{ return(adapter.dispatch('read_lake', 'quantbot')(table_name)) }}
{%- endmacro %}


{% macro duckdb__read_lake(table_name) -%}
    {#- At parse time the model's YAML columns are not attached yet: nothing to build. -#}
    {%- if not execute -%}
        {{ return('select 1 as parsing') }}
    {%- endif -%}

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

    {%- set planned_files = lake_files_to_read(table_name) -%}
    {%- if planned_files is none -%}
        {%- set lake_glob = env_var('QUANTBOT_LAKE', 'lake') ~ '/registry/' ~ table_name ~ '/**/*.parquet' -%}
        {%- set files_literal = sql_string(lake_glob) -%}
        {#- Decided when the model runs, because read_parquet fails on a glob that matches no file. -#}
        {%- set file_count = run_query('select count(*) from glob(' ~ files_literal ~ ')').columns[0].values()[0] -%}
    {%- else -%}
        {%- set quoted_files = [] -%}
        {%- for path in planned_files -%}
            {%- do quoted_files.append(sql_string(path)) -%}
        {%- endfor -%}
        {%- set files_literal = '[' ~ (quoted_files | join(', ')) ~ ']' -%}
        {%- set file_count = planned_files | length -%}
    {%- endif -%}

    {%- if file_count > 0 %}
select
    {%- for column in columns %}
    {% if column.data_type.strip().upper().startswith('MAP') -%}
    {{ map_in_key_order('cast(' ~ adapter.quote(column.name) ~ ' as ' ~ column.data_type ~ ')') }}
    {%- else -%}
    cast({{ adapter.quote(column.name) }} as {{ column.data_type }})
    {%- endif %} as {{ adapter.quote(column.name) }},
    {%- endfor %}
    cast(filename as varchar) as source_file
from (
    select * from read_parquet({{ files_literal }}, union_by_name = true, hive_partitioning = false, filename = true)
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


{#-
    lake_files_to_read(table_name): the files of a lake table this build reads, as
    `quantbot registry rebuild` planned them (build_info.lake_files, which it writes into the file
    before running dbt, marks them read_by_this_build), or none when dbt runs without it: then
    read_lake reads every file.
-#}
{% macro lake_files_to_read(table_name) -%}
    {%- if rebuild_kind() is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set files = run_query(
        'select path from build_info.lake_files where read_by_this_build and lake_table = '
        ~ sql_string(table_name) ~ ' order by path'
    ).columns[0].values() -%}
    {{ return(files | list) }}
{%- endmacro %}


{#-
    rebuild_kind(): 'full' or 'incremental' when `quantbot registry rebuild` runs this build (its
    environment says which), none when dbt runs by hand (every lake file is read, as in a full build).
    Call it only when `execute`: read at parse time, the variable would make dbt re-parse whenever
    the kind of build changes.
-#}
{% macro rebuild_kind() -%}
    {%- set kind = env_var('QUANTBOT_REBUILD', '') -%}
    {{ return(kind if kind in ('full', 'incremental') else none) }}
{%- endmacro %}


{#-
    map_in_key_order(map_sql): the map with its entries sorted by key. A map already in key order
    (the quantbot writers write them so) is kept as it is: rebuilding every map took reading
    stg_runs at 1M runs 6.3 s, keeping the sorted ones 3.1 s. DuckDB refuses a map with a repeated
    key when it reads the file, so sorted keys are strictly increasing.
-#}
{% macro map_in_key_order(map_sql) -%}
    case when map_keys({{ map_sql }}) = list_sort(map_keys({{ map_sql }})) then {{ map_sql }}
        else map_from_entries(list_sort(map_entries({{ map_sql }}))) end
{%- endmacro %}


{#- sql_string(text): a SQL string literal of text (quotes doubled). -#}
{% macro sql_string(text) -%}
    {{ return("'" ~ (text | replace("'", "''")) ~ "'") }}
{%- endmacro %}
