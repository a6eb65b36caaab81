{#-
    distinct_records(relation, id_column=none): one row per distinct record of a staging relation.

    The same record sent twice (same content, another file or registration time) folds into
    one row that keeps its first registration time. Records that share an id but differ in
    content stay two rows here; the `one_content_per_id` test on staging fails on them before
    any registry table is built.

    With id_column, only the records whose id is there more than once are grouped (by every
    column); the others pass as they are. The same rows, without grouping millions of wide rows
    by every column (the id alone is grouped, to find the repeated ones).
-#}
{% macro distinct_records(relation, id_column=none) -%}
{%- if id_column is none -%}
select
    * exclude (registered_at, source_file),
    min(registered_at) as registered_at
from {{ relation }}
group by all
{%- else -%}
with repeated_ids as (
    select {{ id_column }}
    from {{ relation }}
    group by {{ id_column }}
    having count(*) > 1
)

select * exclude (source_file)
from {{ relation }}
where {{ id_column }} is null or {{ id_column }} not in (select {{ id_column }} from repeated_ids where {{ id_column }} is not null)

union all by name

select
    * exclude (registered_at, source_file),
    min(registered_at) as registered_at
from {{ relation }}
where {{ id_column }} in (select {{ id_column }} from repeated_ids)
group by all
{%- endif -%}
{%- endmacro %}


{#-
    distinct_new_records(relation, id_column): what an incremental registry model adds to the
    rows it already has ({{ this }}): one row per distinct record read by this build (relation:
    the staging of the lake files added since the previous build), folded with the row already
    there under the same id, so that a record sent again keeps its first registration time, as
    distinct_records over every file would. The model replaces the rows of those ids
    (incremental_strategy delete+insert, unique_key id_column).
-#}
{% macro distinct_new_records(relation, id_column) -%}
with new_records as (
    {{ distinct_records(relation) }}
),

earlier_rows as (
    select *
    from {{ this }}
    where {{ id_column }} in (select {{ id_column }} from new_records)
)

select
    * exclude (registered_at),
    min(registered_at) as registered_at
from (
    select * from new_records
    union all by name
    select * from earlier_rows
)
group by all
{%- endmacro %}


{#-
    earlier_registry_relation(model_name): the registry table of that model as this build found
    it, before rebuilding it: in an incremental build the rows of every earlier build (the build
    starts from a copy of the previous registry); none when the table is not there yet (a full
    build starts from an empty file). Looked up by name, not ref(): a contract that compares new
    records with earlier ones must run before the model is rebuilt, not after it.
-#}
{% macro earlier_registry_relation(model_name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') | selectattr('name', 'equalto', model_name) | list -%}
    {%- if nodes | length != 1 -%}
        {{ exceptions.raise_compiler_error("earlier_registry_relation: no model named " ~ model_name) }}
    {%- endif -%}
    {%- set node = nodes[0] -%}
    {{ return(adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias)) }}
{%- endmacro %}
