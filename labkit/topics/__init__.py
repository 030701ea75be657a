"""The topics layer: one module (or package) per technique of the guide, each a set of plain functions over DataFrames.

Topics hold techniques only; what a notebook measures and records lives in :mod:`labkit.experiments`. Topics import
the aws, tools and core layers and never each other, with no exception: compositions of topics are scenarios
(:mod:`labkit.scenarios`).
"""
