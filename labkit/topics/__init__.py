"""The topics layer: one module per technique of the guide, each a set of plain functions over DataFrames.

Topics import the core and never each other (the ingestion pipeline, which composes data quality, PHI and
S3, is the one stated exception), nor the report layer.
"""
