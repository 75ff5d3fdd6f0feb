"""Benchmarks called by tools/benchmark.py (one module per subcommand)."""
