{{ read_lake('datasets') }}
