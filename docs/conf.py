"""
Sphinx configuration for txnsq's documentation.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

from txnsq import __version__  # noqa: E402

project = "txnsq"
author = "the txnsq developers"
copyright = "2026, the txnsq developers"
release = __version__
version = __version__

# The narrative is Sphinx; the API reference is rendered from the epytext
# docstrings by pydoctor (as Twisted's is), into the same tree:
#   python -m pydoctor --docformat=epytext --html-output=docs/_build/html/api txnsq
extensions: list[str] = []
