"""Cluster simulator core: hardware, cost model, batched state, metrics (no gymnasium)."""
