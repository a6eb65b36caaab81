{#-
    ordered_window: a window's first day is not after its last day (checked where both are set).
    Fails with one row per record whose window_from is after its window_to.
-#}
{% test ordered_window(model, window_from='window_from', window_to='window_to') %}

select *
from {{ model }}
where {{ window_from }} > {{ window_to }}

{% endtest %}
