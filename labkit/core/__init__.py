"""The core layer: session, scales, data generation and its cache, measurement, plans, bench, projection,
results, checks, prices and the notebook entry point. It imports no topic and no report module."""
