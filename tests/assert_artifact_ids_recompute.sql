-- Contract: every artifact_id is the sha256 of {"content_hash":...,"kind":...,"run_id":...},
-- exactly as quantbot_dbt.ids.artifact_id_for computes it. Fails with one row per record
-- that does not recompute, with the id it should have and its file.
with recomputed as (
    select
        artifact_id,
        {{ artifact_identity_json() }} as identity_json,
        source_file
    from {{ ref('stg_artifacts') }}
)

select
    artifact_id,
    sha256(identity_json) as recomputed_artifact_id,
    identity_json,
    source_file
from recomputed
where artifact_id is distinct from sha256(identity_json)
