"""Public participation: residents' comments on the map and the public display."""
