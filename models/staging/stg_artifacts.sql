-- A table, not a view: the records this build read (every artifact file in a full build, the
-- files added since the previous build in an incremental one), read from Parquet once rather than
-- once per model and contract that uses them.
{{ config(materialized='table') }}

{{ read_lake('artifacts') }}
