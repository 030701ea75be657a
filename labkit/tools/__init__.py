"""The tools layer: processes the lab starts and stops.

The ``labkit cluster`` process manager (a standalone master and workers, Spark Connect) and the runner of a child
Python with its own JVM. It imports only the core.
"""
