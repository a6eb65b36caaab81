{{ read_lake('run_tags') }}
