{#-
    distinct_records(relation): one row per distinct record of a staging relation.

    The same record sent twice (same content, another file or registration time) folds into
    one row that keeps its first registration time. Records that share an id but differ in
    content stay two rows here; the `one_content_per_id` test on staging fails on them before
    any registry table is built.
-#}
{% macro distinct_records(relation) -%}
select
    * exclude (registered_at, source_file),
    min(registered_at) as registered_at
from {{ relation }}
group by all
{%- endmacro %}
