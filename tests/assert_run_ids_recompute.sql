-- Contract: every run_id is the sha256 of its canonical identity JSON, exactly as
-- quantbot_dbt.ids.run_id_for computes it. Fails with one row per record that does not
-- recompute, with the id it should have, the JSON it was hashed from and its file.
with recomputed as (
    select
        run_id,
        {{ run_identity_json() }} as identity_json,
        source_file
    from {{ ref('stg_runs') }}
)

select
    run_id,
    sha256(identity_json) as recomputed_run_id,
    identity_json,
    source_file
from recomputed
where run_id is distinct from sha256(identity_json)
