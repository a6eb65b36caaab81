{#-
    one_content_per_id: an id may be in the lake more than once (a record re-sent), but always
    with the same content. Compares every column except registered_at and source_file; fails
    with one row per id that has two or more different contents, listing the files they are in.
-#}
{% test one_content_per_id(model, column_name) %}

with contents as (
    select
        * exclude (registered_at, source_file),
        list(distinct source_file) as source_files
    from {{ model }}
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
