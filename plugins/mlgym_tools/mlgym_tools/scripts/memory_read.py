#!/usr/bin/env python3
"""mlgym-tools: memory_read (client; the store lives on the host)."""

# @yaml
# signature: memory_read <query>
# docstring: Retrieve top-2 elements from memory most similar to a query.
# group: memory
# arguments:
#   query:
#     type: string
#     description: query to search for in memory
#     required: true

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import _mlgym_client  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) < 2 or not " ".join(sys.argv[1:]).strip():
        print("Usage: memory_read <query>")
        sys.exit(2)
    sys.exit(_mlgym_client.run("memory", "read", query=" ".join(sys.argv[1:])))
