"""The child of :func:`labkit.experiments.memory.run_in_one_child`: ``python -m labkit.experiments.memory
'<json steps>' '<json master>'`` runs each workload in a new session and prints one report line each."""

import json
import sys

from labkit.experiments.memory.isolated import _child

if __name__ == "__main__":  # pragma: no cover - run by run_in_one_child in a child process
    _child(json.loads(sys.argv[1]), json.loads(sys.argv[2])["master"])
