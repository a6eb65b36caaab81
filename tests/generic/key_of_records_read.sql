{#-
    key_of_records_read: `key` (a list of columns) is a primary key of the model (no column of it
    null, no two rows with the same values) for the rows of the records this build read: `read` is
    their staging model and `read_column` the column that ties a row to them (run_id,
    artifact_id). In a full build that is every row. In an incremental one it is every row the
    build wrote; the others were checked when they were written and are not touched (an
    incremental model replaces only the rows of the records it read). Fails with one row per key
    found more than once or with a null.

    For the registry's incremental tables, instead of a primary key constraint: DuckDB would keep
    an ART index of every key in memory and rewrite it at every checkpoint (at 1M runs: about
    1 GB more memory, 2.5 s more per incremental build and a file twice as large), and a test on
    the whole table would rescan it at every build.
-#}
{% test key_of_records_read(model, key, read, read_column) %}

select
    {% for column in key %}{{ adapter.quote(column) }}, {% endfor %}
    count(*) as row_count
from {{ model }}
{%- if execute and rebuild_kind() == 'incremental' %}
where {{ adapter.quote(read_column) }} in (select {{ adapter.quote(read_column) }} from {{ read }})
{%- else %}
-- {{ read }}: a full build (or dbt run by hand) read every record: every row is checked
{%- endif %}
group by all
having count(*) > 1
    {%- for column in key %}
    or {{ adapter.quote(column) }} is null
    {%- endfor %}

{% endtest %}
