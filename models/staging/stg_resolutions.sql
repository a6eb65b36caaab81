{{ read_lake('resolutions') }}
