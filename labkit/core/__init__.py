"""The core layer: what every notebook and topic stands on. It imports no other labkit layer.

Its own layers, top to bottom (an import-linter contract): ``notebook``; ``bench``, ``results``, ``plans``;
``measure``, ``datagen``, ``cache``, ``swap``, ``checks``; ``session``, ``files``; ``runtime``; ``cluster_state``;
``args``, ``paths``, ``plan_parse``, ``projection``, ``poll``, ``scales``; ``units``.
"""
