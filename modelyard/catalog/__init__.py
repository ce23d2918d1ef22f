"""The model hub: models, versions, files, the publishing lifecycle, hashing, scanning and downloads."""
