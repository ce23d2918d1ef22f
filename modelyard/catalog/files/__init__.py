"""Model files: storing and hashing them (`service`, `hashing`), reading what they are (`inspect`), scanning them
(`scanning`, `pickle_walk`, `pickle_scan`, `quarantine`, `scan_review`), resumable uploads, downloads, conversion
to safetensors, and where their objects live (`placement`)."""
