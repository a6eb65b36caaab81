-- Contract: every experiment_id is the sha256 of {"name":..,"params":{..},"resolution_id":..,"runset_id":..},
-- exactly as quantbot_dbt.experiments.experiment_id_for computes it (macro
-- experiment_identity_json). Fails with one row per record that does not recompute, with the id
-- it should have, the JSON it was hashed from and its file.
with recomputed as (
    select
        experiment_id,
        {{ experiment_identity_json() }} as identity_json,
        source_file
    from {{ ref('stg_experiments') }}
)

select
    experiment_id,
    sha256(identity_json) as recomputed_experiment_id,
    identity_json,
    source_file
from recomputed
where experiment_id is distinct from sha256(identity_json)
