"""
Sphinx configuration for txnsq's documentation.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
# docs/_ext: the directives that generate the reference from txnsq's tables.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ext"))

from txnsq import __version__  # noqa: E402

project = "txnsq"
author = "the txnsq developers"
copyright = "2026, the txnsq developers"
release = __version__
version = __version__

# The narrative is Sphinx; the API reference is rendered from the epytext
# docstrings by pydoctor (as Twisted's is), into the same tree (api/), when
# the HTML build finishes.  A docstring pydoctor cannot parse fails the build.
extensions: list[str] = ["txnsq_reference"]

# Built output and helpers, not pages.
exclude_patterns = ["_build", "_ext"]


def _apiDocs(app: object, exception: object) -> None:
    if exception is not None or getattr(app, "builder").name != "html":
        return
    from pydoctor.driver import main

    outdir = os.path.join(str(getattr(app, "outdir")), "api")
    status = main(
        [
            "--project-name=txnsq",
            f"--project-version={__version__}",
            "--docformat=epytext",
            "-q",
            f"--html-output={outdir}",
            os.path.join(_ROOT, "txnsq"),
        ]
    )
    if status:
        raise RuntimeError(f"pydoctor failed ({status}): see its messages above")


def setup(app: object) -> None:
    """
    Hook the API reference into the HTML build.
    """
    getattr(app, "connect")("build-finished", _apiDocs)
