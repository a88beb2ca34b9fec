"""Benchmarks (results in BENCHMARKS.md); run from the repository root."""
