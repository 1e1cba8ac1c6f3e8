# -*- test-case-name: tests.tools -*-
"""
NSQ's command-line utilities, with Go NSQ 1.3.0's flags, defaults, output
and exit statuses: C{txnsq nsq_tail}, C{txnsq to_nsq}, C{txnsq nsq_stat},
C{txnsq nsq_to_file}, C{txnsq nsq_to_http}, C{txnsq nsq_to_nsq}.

The tools are built on L{txnsq.client} only (and treq for HTTP); they
never import the daemons.

How a tool plugs in
===================

A tool is a module C{txnsq.tools.<name>} (the name as Go spells the
binary, C{nsq_tail}) that defines:

  - C{TOOL}: a L{Tool <txnsq.tools._runner.Tool>} naming the program, its
    L{FlagTable <txnsq._go.flags.FlagTable>} (built from the shared flags
    in L{txnsq.tools._common}), the signals that stop it, and its C{run}
    coroutine;
  - C{main(argv) -> int}: C{return runTool(TOOL, argv)}, which installs
    the reactor and runs the tool as a process (what C{txnsq <name>}
    calls).

C{run(context)} is an C{async def} taking a
L{ToolContext <txnsq.tools._runner.ToolContext>}: the resolved flag values
(C{context.values["topic"]}), the reactor, stdin/stdout/stderr, Go's
C{log.Printf} (C{context.log}), and C{context.interrupted}, a Deferred
fired on SIGINT/SIGTERM (Go's C{sigChan}).  It returns the exit status,
or raises L{Fatal <txnsq.tools._runner.Fatal>} for Go's C{log.Fatal}
(C{context.fatal("--topic required")}: the log line on stderr, exit 1).
Flag parsing, C{-h} (usage, exit 0), bad flags (error and usage, exit 2)
and C{--version} are the runner's job, not the tool's.

Tests run a tool in-process on trial's reactor with
L{startTool <txnsq.tools._runner.startTool>}, which returns a Deferred
of the exit status and lets the test play the signal with
C{context.interrupt()}.

C{txnsq <name>} finds the module by name (L{txnsq._cli}) and imports it
only when it runs; a tool is listed, with its one-line summary for
C{txnsq --help}, in L{TOOLS} (and short names in L{ALIASES}).  This
module imports nothing, so that listing the tools costs nothing.
"""

from __future__ import annotations

__all__ = ["ALIASES", "TOOLS"]

TOOLS: dict[str, str] = {
    "nsq_tail": "print the messages of topics to stdout",
    "to_nsq": "publish stdin, one message per line, to nsqd",
    "nsq_stat": "print a channel's stats every interval",
    "nsq_to_file": "write the messages of topics to files",
    "nsq_to_http": "POST or GET the messages of a topic to HTTP endpoints",
    "nsq_to_nsq": "republish the messages of a topic to other nsqds",
}
"""Each tool's module name under C{txnsq.tools}, and its summary."""

ALIASES: dict[str, str] = {
    "tail": "nsq_tail",
    "stat": "nsq_stat",
}
"""Short names C{txnsq} also accepts."""
