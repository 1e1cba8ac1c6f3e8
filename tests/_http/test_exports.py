"""
Tests for L{txnsq._http}'s public names.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

import txnsq._http
from txnsq._http import (
    _client,
    _params,
    _paths,
    _responses,
    _router,
    _routes,
    _site,
    _treq,
)


class ExportTests(SynchronousTestCase):
    """
    The package re-exports its modules' names, as themselves.
    """

    def test_reexports(self) -> None:
        """
        Every name in C{__all__} is the object its private module defines.
        """
        modules = (
            _client,
            _params,
            _paths,
            _responses,
            _router,
            _routes,
            _site,
            _treq,
        )
        for name in txnsq._http.__all__:
            [home] = [module for module in modules if name in module.__all__]
            self.assertIs(getattr(txnsq._http, name), getattr(home, name), name)
