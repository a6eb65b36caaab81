-- Contract: every stored spec is a valid selection in canonical form, so that its columns in
-- registry.runsets say everything it selects by: datasets given; status completed, failed or
-- any; window_from and window_to given together and in order; match (within or overlap) given
-- iff callers or a window is; and spec_json is exactly the canonical JSON rebuilt from those
-- columns (no unknown key, sorted keys and lists, no whitespace). Fails with one row per
-- RunSet, listing its problems and the canonical form.
with checked as (
    select
        runset_id,
        spec_json,
        {{ runset_spec_json() }} as canonical_spec_json,
        list_filter(
            [
                case when not json_valid(spec_json) then 'spec_json is not JSON' end,
                case when datasets is null or len(datasets) = 0 then 'no datasets' end,
                case when status is null
                    or (status <> 'any' and status not in (select status from {{ ref('run_statuses') }}))
                    then 'status is not a run status or any' end,
                case when (window_from is null) <> (window_to is null)
                    then 'window_from and window_to are not given together' end,
                case when window_from > window_to then 'window_from is after window_to' end,
                case when (match is not null)
                    is distinct from (coalesce(len(callers), 0) > 0 or window_from is not null)
                    then 'match is not given exactly when callers or a window is' end,
                case when match not in ('within', 'overlap') then 'match is not within or overlap' end
            ],
            lambda problem: problem is not null
        ) as problems
    from {{ ref('runsets') }}
)

select
    runset_id,
    case when spec_json is distinct from canonical_spec_json
        then list_append(problems, 'spec_json is not canonical') else problems end as problems,
    spec_json,
    canonical_spec_json
from checked
where len(problems) > 0
   or spec_json is distinct from canonical_spec_json
