"""Built-in plugin: the benchmark's metrics (placeholder until the metrics module lands)."""
