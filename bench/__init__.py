"""Benchmarks: each a side-by-side ratio against a bare baseline measured in the same run."""
