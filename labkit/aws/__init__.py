"""The AWS layer: the facts topics share without importing each other.

Prices (us-east-1, dated, with their sources), S3 lifecycle rules and their evaluation, and the S3 client
(moto's server on 127.0.0.1, or real S3). It imports only the core.
"""
