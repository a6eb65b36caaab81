{{ read_lake('experiments') }}
