"""Datasets: raw-format readers, Parquet shards with a manifest, and the Ray Data pipeline."""
