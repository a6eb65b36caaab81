{{ read_lake('artifacts') }}
