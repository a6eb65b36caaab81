{#-
    one_content_per_id: an id may be in the lake more than once (a record re-sent), but always
    with the same content. Compares every column except registered_at and source_file; fails
    with one row per id that has two or more different contents, listing the files they are in.

    earlier (optional): the registry model the records fold into (`runs` for stg_runs). When
    this build starts from an earlier registry (an incremental build reads only the lake files
    added since then), the records read are also compared with the rows already registered
    under the same ids, listed as `registry.<model> (an earlier build)`: the same id with new
    content fails, whichever build first read it.
-#}
{% test one_content_per_id(model, column_name, earlier=none) %}

{%- set earlier_relation = earlier_registry_relation(earlier) if earlier else none %}

with
{%- if earlier_relation is not none %}
{#- Materialized: the rows registered under the ids read, found once (a scan of the whole
    registry table: 0.7 s for registry.artifacts at 1M runs), not once per use of records. #}
earlier_records as materialized (
    select
        * exclude (registered_at),
        {{ sql_string(earlier_relation.schema ~ '.' ~ earlier_relation.identifier ~ ' (an earlier build)') }} as source_file
    from {{ earlier_relation }}
    where {{ column_name }} in (select {{ column_name }} from {{ model }})
),
{%- endif %}

{#- Not materialized: repeated_ids then reads the id column alone, and only the repeated ids'
    records are held whole (materialized, the resolutions of 1M runs, with their member lists,
    ran the build out of memory). #}
records as not materialized (
    select * exclude (registered_at)
    from {{ model }}
    {%- if earlier_relation is not none %}
    union all by name
    select * from earlier_records
    {%- endif %}
),

repeated_ids as (
    select {{ column_name }}
    from records
    group by {{ column_name }}
    having count(*) > 1
),

{#- Only ids there more than once can have two contents: only their records are grouped by
    every column (millions of wide rows grouped by the id alone are much cheaper). #}
contents as (
    select
        * exclude (source_file),
        list(distinct source_file) as source_files
    from records
    where {{ column_name }} is null or {{ column_name }} in (select {{ column_name }} from repeated_ids)
    group by all
)

select
    {{ column_name }} as id,
    count(*) as distinct_contents,
    list_sort(list_distinct(flatten(list(source_files)))) as source_files
from contents
group by {{ column_name }}
having count(*) > 1

{% endtest %}
