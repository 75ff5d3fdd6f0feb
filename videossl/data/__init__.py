"""Data: list files -> records, decoders, clip sampling, transforms, datasets, demo data."""
