# -*- test-case-name: tests.test_cli -*-
"""
The C{txnsq} command: C{txnsq nsqd ...}, C{txnsq nsqlookupd ...},
C{txnsq nsqadmin ...} and C{txnsq nsq ...} run the daemons with Go's command line and Go's log
format, as drop-in replacements for the Go binaries in scripts and test
harnesses; C{txnsq nsq_tail ...}, C{txnsq to_nsq ...} and the other tools
of L{txnsq.tools} run Go NSQ's utilities the same way.

  - flags are parsed exactly as Go's C{flag} package does (L{txnsq._go.flags});
  - log lines go to stderr as C{[nsqd] 2026/11/26 21:27:30.966582 INFO: ...};
  - a bad flag prints the error and the usage and exits 2, C{-h} exits 0,
    C{--version} prints Go's version line, invalid options log C{FATAL} and
    exit 1 (as does failing to listen);
  - SIGTERM or SIGINT stops the daemon gracefully, then exits 0.

For twistd (daemonizing, pidfiles, C{--logger}), use the plugins instead:
C{twistd nsqd}, C{twistd nsqlookupd}, C{twistd nsqadmin}, C{twistd nsq}.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, NoReturn

import attrs
from twisted.application.service import IService
from twisted.logger import globalLogBeginner, globalLogPublisher

from txnsq import NSQ_VERSION, __version__
from txnsq._go.exit import fatalText
from txnsq._go.flags import ConfigFileError, FlagError, FlagTable, HelpRequested
from txnsq._go.log import GoLogObserver, LogRoute, formatLine, logLevelFromName
from txnsq._tlsimport import withoutTLS
from txnsq.tools import ALIASES, TOOLS

__all__ = ["main", "run"]


@attrs.frozen
class _Daemon:
    """
    What the command line needs to know about one daemon.

    @ivar name: the command (and Go's program name).
    @ivar table: its flags.
    @ivar configure: resolved flag values -> config (raises C{ValueError}
        with Go's message for invalid options).
    @ivar makeService: C{(config, reactor) -> service}.
    @ivar routes: the log routes for a config.
    @ivar fatalPrefix: the prefix Go's C{logFatal} uses (fixed, not
        C{--log-prefix}).
    @ivar stopFailed: given the services started (none, or the one),
        whether stopping lost something (exit 1).
    @ivar asProcess: prepares a service for being the whole process (not
        a test's or an embedding program's guest): nsqd tunes the garbage
        collector once started, as under C{twistd}.
    @ivar noTLS: whether a config needs no TLS at all, so that the process
        can do without pyOpenSSL (L{txnsq._tlsimport}).
    """

    name: str
    table: Callable[[], FlagTable]
    configure: Callable[[Mapping[str, object]], Any]
    makeService: Callable[[Any, Any], IService]
    routes: Callable[[Any], list[LogRoute]]
    fatalPrefix: str
    stopFailed: Callable[[list[Any]], bool] = lambda services: False
    asProcess: Callable[[Any], None] = lambda service: None
    noTLS: Callable[[Any], bool] = lambda config: False


def _nsqdStopFailed(services: list[Any]) -> bool:
    return any(service.persistence.closeFailed for service in services)


def _combinedStopFailed(services: list[Any]) -> bool:
    return _nsqdStopFailed([service.nsqd for service in services])


def _nsqdAsProcess(service: Any) -> None:
    service.tuneGC = True


def _combinedAsProcess(service: Any) -> None:
    service.nsqd.tuneGC = True


def _nsqdRoute(config: Any) -> LogRoute:
    # The route reads the config's level at each event, so that
    # PUT /config/log_level takes effect.
    return LogRoute(
        "txnsq.nsqd", config.log_prefix, logLevelFromName(config.log_level), config
    )


def _lookupdRoute(config: Any) -> LogRoute:
    return LogRoute(
        "txnsq.nsqlookupd", config.log_prefix, logLevelFromName(config.log_level)
    )


def _nsqdTable() -> FlagTable:
    from txnsq.nsqd.options import NSQD_FLAGS

    return NSQD_FLAGS


def _nsqdConfigure(values: Mapping[str, object]) -> Any:
    from txnsq.nsqd.options import configure

    return configure(values)


def _nsqdNoTLS(config: Any) -> bool:
    from txnsq.nsqd.options import usesTLS

    return not usesTLS(config)


def _nsqdService(config: Any, reactor: Any) -> IService:
    from txnsq.nsqd.tap import nsqdService

    return nsqdService(config, reactor)


def _lookupdTable() -> FlagTable:
    from txnsq.nsqlookupd.options import LOOKUPD_FLAGS

    return LOOKUPD_FLAGS


def _lookupdConfigure(values: Mapping[str, object]) -> Any:
    from txnsq.nsqlookupd.options import configure

    return configure(values)


def _lookupdService(config: Any, reactor: Any) -> IService:
    from txnsq.nsqlookupd.service import NSQLookupdService

    return NSQLookupdService(config, reactor)


def _adminRoute(config: Any) -> LogRoute:
    return LogRoute(
        "txnsq.nsqadmin", config.log_prefix, logLevelFromName(config.log_level)
    )


def _adminTable() -> FlagTable:
    from txnsq.nsqadmin.options import ADMIN_FLAGS

    return ADMIN_FLAGS


def _adminConfigure(values: Mapping[str, object]) -> Any:
    from txnsq.nsqadmin.options import configure

    return configure(values)


def _adminService(config: Any, reactor: Any) -> IService:
    from txnsq.nsqadmin.service import NSQAdminService

    return NSQAdminService(config, reactor)


def _combinedRoutes(config: Any) -> list[LogRoute]:
    routes = [_nsqdRoute(config.nsqd), _lookupdRoute(config.nsqlookupd)]
    if config.nsqadmin is not None:
        routes.append(_adminRoute(config.nsqadmin))
    return routes


def _combinedTable() -> FlagTable:
    from txnsq.combined import COMBINED_FLAGS

    return COMBINED_FLAGS


def _combinedConfigure(values: Mapping[str, object]) -> Any:
    from txnsq.combined import configure

    return configure(values)


def _combinedService(config: Any, reactor: Any) -> IService:
    from txnsq.combined import combinedService

    return combinedService(config, reactor)


# Each daemon's modules are imported only when that command runs.
_DAEMONS = {
    daemon.name: daemon
    for daemon in [
        _Daemon(
            "nsqd",
            _nsqdTable,
            _nsqdConfigure,
            _nsqdService,
            lambda config: [_nsqdRoute(config)],
            "[nsqd] ",
            _nsqdStopFailed,
            _nsqdAsProcess,
            _nsqdNoTLS,
        ),
        _Daemon(
            "nsqlookupd",
            _lookupdTable,
            _lookupdConfigure,
            _lookupdService,
            lambda config: [_lookupdRoute(config)],
            "[nsqlookupd] ",
            # nsqlookupd has no TLS.
            noTLS=lambda config: True,
        ),
        _Daemon(
            "nsqadmin",
            _adminTable,
            _adminConfigure,
            _adminService,
            lambda config: [_adminRoute(config)],
            "[nsqadmin] ",
        ),
        _Daemon(
            "nsq",
            _combinedTable,
            _combinedConfigure,
            _combinedService,
            _combinedRoutes,
            "[nsqd] ",
            _combinedStopFailed,
            _combinedAsProcess,
        ),
    ]
}


def _usage() -> str:
    tools = "".join(f"  {name:<12}{summary}\n" for name, summary in TOOLS.items())
    aliases = ", ".join(f"{alias} ({name})" for alias, name in ALIASES.items())
    return (
        "Usage: txnsq <command> [flags]\n"
        "\n"
        "Commands:\n"
        "  nsqd        run an nsqd (flags as Go nsqd 1.3.0)\n"
        "  nsqlookupd  run an nsqlookupd (flags as Go nsqlookupd 1.3.0)\n"
        "  nsqadmin    run an nsqadmin: web UI and JSON API (flags as Go nsqadmin 1.3.0)\n"
        "  nsq         run nsqlookupd, nsqd and nsqadmin in one process\n"
        "\n"
        "Tools (flags, output and exit statuses as Go NSQ 1.3.0's):\n"
        f"{tools}"
        f"  short names: {aliases}\n"
        "\n"
        'Run "txnsq <command> -help" for a command\'s flags.\n'
    )


USAGE = _usage()


def run(
    argv: Sequence[str],
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    reactor: Any = None,
) -> int:
    """
    Run the C{txnsq} command until the daemon stops.

    @param argv: the arguments after the program name.
    @param reactor: the reactor to run; without one, Twisted's default
        reactor is installed and logging begins on C{stderr} for the whole
        process (tests pass a fake reactor, and the log observer is only
        attached while this runs).
    @return: the exit status.
    """
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    if not argv or argv[0] in ("-h", "-help", "--help", "help"):
        (out if argv else err).write(USAGE)
        return 0 if argv else 2
    if argv[0] in ("-version", "--version", "version"):
        out.write(f"txnsq {__version__} (NSQ {NSQ_VERSION})\n")
        return 0
    tool = ALIASES.get(argv[0], argv[0])
    if tool in TOOLS:
        return _runTool(tool, argv[1:], out, err, reactor)
    daemon = _DAEMONS.get(argv[0])
    if daemon is None:
        err.write(f"txnsq: unknown command {argv[0]!r}\n{USAGE}")
        return 2

    table = daemon.table()
    try:
        parsed = table.parse(argv[1:])
    except HelpRequested:
        err.write(table.usage())
        return 0
    except FlagError as e:
        err.write(f"{e}\n{table.usage()}")
        return 2
    if parsed.values.get("version"):
        out.write(f"{table.version}\n")
        return 0

    try:
        values = table.resolveWithConfigFile(parsed.values)
    except ConfigFileError as e:
        err.write(formatLine(daemon.fatalPrefix, "FATAL", str(e)))
        return 1
    try:
        config = daemon.configure(values)
    except ValueError as e:
        err.write(
            formatLine(
                daemon.fatalPrefix,
                "FATAL",
                f"failed to instantiate {daemon.name} - {e}",
            )
        )
        return 1

    observer = GoLogObserver(err, daemon.routes(config))
    if reactor is None:
        if daemon.noTLS(config):
            # Before the reactor's first import: see txnsq._tlsimport.
            withoutTLS()
        reactor = _installReactor()
        globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
        return _serve(daemon, config, reactor, err, ownProcess=True)
    globalLogPublisher.addObserver(observer)
    try:
        return _serve(daemon, config, reactor, err)
    finally:
        globalLogPublisher.removeObserver(observer)


class _TextSink:
    """
    A binary stdout over a text stream (for in-process runs given a text
    C{stdout}).
    """

    def __init__(self, text: IO[str]) -> None:
        self._text = text

    def write(self, data: bytes) -> int:
        self._text.write(data.decode("utf-8", "surrogateescape"))
        return len(data)

    def flush(self) -> None:
        self._text.flush()


def _runTool(
    name: str, argv: Sequence[str], out: IO[str], err: IO[str], reactor: Any
) -> int:
    """
    Run the tool C{txnsq.tools.<name>}: as the process (its C{main}), or
    in this process on C{reactor} when one is given, until the reactor
    stops or the tool ends.
    """
    module = importlib.import_module(f"txnsq.tools.{name}")
    if reactor is None:
        status: int = module.main(argv)
        return status
    from txnsq.tools._runner import startTool

    stdout: Any = getattr(out, "buffer", None) or _TextSink(out)
    run = startTool(module.TOOL, argv, reactor=reactor, stdout=stdout, stderr=err)
    statuses: list[int] = []
    run.result.addCallback(statuses.append)
    if not statuses:
        run.result.addCallback(lambda _: reactor.stop())
        reactor.run()
    # A tool still running when the reactor stopped was interrupted.
    return statuses[0] if statuses else 0


def _installReactor() -> Any:
    """
    Install Twisted's default reactor, unless one already is.
    """
    if "twisted.internet.reactor" not in sys.modules:
        from twisted.internet import default

        default.install()
    from twisted.internet import reactor

    return reactor


def _serve(
    daemon: _Daemon, config: Any, reactor: Any, err: IO[str], ownProcess: bool = False
) -> int:
    """
    Start the daemon's service once the reactor runs, stop it gracefully
    before the reactor shuts down (SIGTERM, SIGINT), and run the reactor.

    @param ownProcess: whether the daemon is the whole process (see
        L{_Daemon.asProcess}); not for in-process runs given a reactor.

    @return: 0, or 1 if the service could not start.
    """
    status = 0
    started: list[IService] = []

    def start() -> None:
        nonlocal status
        try:
            service = daemon.makeService(config, reactor)
            started.append(service)
            if ownProcess:
                daemon.asProcess(service)
            service.privilegedStartService()
            service.startService()
        except Exception as e:
            status = 1
            err.write(
                formatLine(daemon.fatalPrefix, "FATAL", fatalText(daemon.name, e))
            )
            err.flush()
            reactor.stop()
            return
        reactor.addSystemEventTrigger("before", "shutdown", service.stopService)

    reactor.callWhenRunning(start)
    reactor.run()
    if status == 0 and daemon.stopFailed(started):
        # The stop could not keep what it had to (logged at the fatal
        # level): a supervisor must see that something was lost.
        status = 1
    return status


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """
    The C{txnsq} console script.
    """
    sys.exit(run(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
