"""Benchmarks against PyTorch on the same machine."""
