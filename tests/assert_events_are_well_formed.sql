-- Contract: every event is one its target knows, and a tag change names its tag. A RunSet:
-- resolved, frozen, unfrozen, deleted, revived, tagged, untagged, described; a run: tagged,
-- untagged. (A `frozen` event's resolution is checked by
-- assert_frozen_runsets_pin_one_own_resolution.) Fails with one row per bad event.
select *
from {{ ref('event_log') }}
where (target_type, event) not in (
        ('runset', 'resolved'),
        ('runset', 'frozen'),
        ('runset', 'unfrozen'),
        ('runset', 'deleted'),
        ('runset', 'revived'),
        ('runset', 'tagged'),
        ('runset', 'untagged'),
        ('runset', 'described'),
        ('run', 'tagged'),
        ('run', 'untagged')
    )
    or (event in ('tagged', 'untagged') and tag is null)
