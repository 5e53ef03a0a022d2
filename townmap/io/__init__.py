"""Reading what consultants bring: encodings, archives and (later) every GIS format."""
