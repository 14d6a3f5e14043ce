"""Benchmarks: figures and ratios measured in one run (no pass/fail timing)."""
