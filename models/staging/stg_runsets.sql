{{ read_lake('runsets') }}
