{{ distinct_records(ref('stg_runs')) }}
