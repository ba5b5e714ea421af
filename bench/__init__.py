"""Benchmarks: `make bench` (or `python -m bench [name ...]`); results in bench/results/."""
