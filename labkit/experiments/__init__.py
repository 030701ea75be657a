"""The experiments layer: what each notebook measures, the claim rows it records, and the guide's own code.

A topic module holds techniques; the measured comparisons built from them (through :mod:`labkit.core.bench`),
the claim and statement checks a notebook records, and the guide's code reproduced line for line live here,
one module per topic. It imports topics, aws, tools and core.
"""
