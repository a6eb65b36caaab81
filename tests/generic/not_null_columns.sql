{#-
    not_null_columns: every listed column is set in every row (one test for all the required
    columns of a model, instead of one not_null test per column: each test is a query and a
    node, and the build runs often). Fails with one row per record that misses any of them,
    listing which (null_columns), followed by the record itself.
-#}
{% test not_null_columns(model, columns) %}

select
    list_filter(
        [
            {%- for column in columns %}
            case when {{ adapter.quote(column) }} is null then '{{ column }}' end{{ "," if not loop.last }}
            {%- endfor %}
        ],
        lambda name: name is not null
    ) as null_columns,
    *
from {{ model }}
where
    {%- for column in columns %}
    {{ "or " if not loop.first }}{{ adapter.quote(column) }} is null
    {%- endfor %}

{% endtest %}
