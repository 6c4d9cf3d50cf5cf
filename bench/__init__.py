"""Tessera benchmarks (`make bench`): speed and memory as ratios within one run."""
