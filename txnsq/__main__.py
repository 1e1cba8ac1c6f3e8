# -*- test-case-name: tests.test_cli -*-
"""
C{python -m txnsq ...}: the C{txnsq} command.
"""

from txnsq._cli import main

main()
