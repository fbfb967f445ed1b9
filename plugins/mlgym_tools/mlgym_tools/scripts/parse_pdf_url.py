#!/usr/bin/env python3
"""mlgym-tools: parse_pdf_url (client; the host-side service downloads and parses the PDF)."""

# @yaml
# signature: parse_pdf_url <pdf_url>
# docstring: Download the PDF at the given URL and print its text, page by page. Long documents are truncated with a note.
# group: literature
# arguments:
#   pdf_url:
#     type: string
#     description: the URL of the PDF (for example a pdf_url printed by literature_search)
#     required: true

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import _mlgym_client  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].strip():
        print("Usage: parse_pdf_url <pdf_url>")
        sys.exit(2)
    sys.exit(_mlgym_client.run("literature", "parse_pdf", url=sys.argv[1].strip()))
