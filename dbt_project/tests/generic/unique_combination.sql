{#-
    The combination of `combination_of_columns` is unique across the model (a composite key).
    Model-level test: data_tests: [{unique_combination: {arguments: {combination_of_columns: [a, b]}}}]
-#}
{% test unique_combination(model, combination_of_columns) %}

{%- set columns_csv = combination_of_columns | join(', ') %}

select
    {{ columns_csv }},
    count(*) as occurrences
from {{ model }}
group by {{ columns_csv }}
having count(*) > 1

{% endtest %}
