{{ distinct_records(ref('stg_runset_names')) }}
