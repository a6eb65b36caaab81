{{ read_lake('runset_events') }}
