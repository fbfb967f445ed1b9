"""Scores answer.py without running it: reads its literal ``ANSWER = <number>`` and prints the JSON metrics."""

import ast
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
target = float(open(os.path.join(here, "target.txt")).read())
tree = ast.parse(open("answer.py").read())
values = [ast.literal_eval(node.value) for node in tree.body
          if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ANSWER" for t in node.targets)]
if not values or isinstance(values[-1], bool) or not isinstance(values[-1], (int, float)):
    sys.exit("answer.py assigns no number to ANSWER")
print(json.dumps({"Score": 100.0 - abs(float(values[-1]) - target)}))
