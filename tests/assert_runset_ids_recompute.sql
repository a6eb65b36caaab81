-- Contract: every runset_id is the sha256 of its spec_json, the exact string stored, as
-- quantbot_dbt.resolver.runset_id_for computes it. Fails with one row per record that does not
-- recompute, with the id it should have and its file.
select
    runset_id,
    sha256(spec_json) as recomputed_runset_id,
    spec_json,
    source_file
from {{ ref('stg_runsets') }}
where runset_id is distinct from sha256(spec_json)
