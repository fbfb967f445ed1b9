#!/usr/bin/env python3
"""mlgym-tools: literature_search (client; the host-side service talks to Semantic Scholar)."""

# @yaml
# signature: literature_search <query> [<num_results>]
# docstring: Search Semantic Scholar for papers matching the query and print one JSON object per paper (paperId, title, abstract, pdf_url). Only open-access papers with a PDF are returned.
# group: literature
# arguments:
#   query:
#     type: string
#     description: the search query
#     required: true
#   num_results:
#     type: integer
#     description: the number of papers to return (default 20, at most 100)
#     required: false

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import _mlgym_client  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    n = 20
    if len(args) >= 2 and args[-1].isdigit():
        n = int(args.pop())
    query = " ".join(args).strip()
    if not query:
        print("Usage: literature_search <query> [<num_results>]")
        sys.exit(2)
    if not 1 <= n <= 100:
        print("Error: num_results must be between 1 and 100")
        sys.exit(2)
    sys.exit(_mlgym_client.run("literature", "search", query=query, num_results=n))
