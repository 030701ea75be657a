"""The scenarios layer: topics composed into a project.

The ingestion pipeline (data quality, PHI masking and S3 in one run, with a ledger and nothing lost) and the
incident troubleshooting of its Glue job. Scenarios are where topics meet; topics never import each other.
"""
