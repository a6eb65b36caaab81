{{ distinct_records(ref('stg_artifacts')) }}
