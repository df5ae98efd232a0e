"""Real servers on free ports in temp dirs, for tests and benchmarks (never the system ones)."""
