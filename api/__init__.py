"""The Flask web layer of hubmatch: parse, authorise, call the core and the repository, serialise."""
