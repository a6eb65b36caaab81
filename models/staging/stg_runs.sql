{{ read_lake('runs') }}
