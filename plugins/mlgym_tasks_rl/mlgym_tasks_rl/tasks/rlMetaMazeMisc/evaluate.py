"""Scores the 5 checkpoints of the workspace on MetaMaze-misc (frame cap 199); prints Reward Mean/Std.

Run from the workspace root: python evaluate.py --config_fname config.yaml
The checkpoints are checkpoints/config*.pkl and the network is rebuilt from src/networks.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rlgrader import evaluate  # noqa: E402

if __name__ == "__main__":
    evaluate("MetaMaze-misc", max_frames=199)
