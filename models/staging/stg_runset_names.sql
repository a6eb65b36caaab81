{{ read_lake('runset_names') }}
