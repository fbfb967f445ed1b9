#!/usr/bin/env python3
"""mlgym-tools: memory_write (client; the store lives on the host)."""

# @yaml
# signature: memory_write <content_str>
# docstring: Save important results, configs or findings to memory.
# group: memory
# arguments:
#   content_str:
#     type: string
#     description: content to be saved to persistent memory
#     required: true

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import _mlgym_client  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) < 2 or not " ".join(sys.argv[1:]).strip():
        print("Usage: memory_write <content_str>")
        sys.exit(2)
    sys.exit(_mlgym_client.run("memory", "write", text=" ".join(sys.argv[1:])))
