"""The child of :func:`labkit.experiments.memory.run_isolated`: ``python -m labkit.experiments.memory <workload>
'<json conf>' '<json params>'`` builds its session, runs the workload and prints one report line."""

import json
import sys

from labkit.experiments.memory.isolated import _child

if __name__ == "__main__":  # pragma: no cover - run by run_isolated in a child process
    _child(sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]))
