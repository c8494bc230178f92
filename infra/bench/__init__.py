"""Benchmarks (`make bench`, `make bench B=<name>`): measure, print ratios, never gate on timing.

Each benchmark prints one JSON object per line with at least name, value, unit, baseline, ratio
(value relative to a baseline measured in the same run) and goal, and appends it to
var/bench-results.jsonl. Correctness invariants inside a benchmark fail loudly.
"""
