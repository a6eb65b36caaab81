{{ distinct_records(ref('stg_datasets')) }}
