"""
Tests for L{txnsq._go.flags}: Go's C{flag} syntax, Go durations, the TOML
config file and the generated twistd options.
"""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stdout

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from txnsq._go.flags import (
    BOOL,
    DURATION,
    FLOAT_LIST,
    INT,
    LOG_LEVEL,
    STRING,
    STRING_LIST,
    ConfigFileError,
    Flag,
    FlagError,
    FlagTable,
    GoFlagOptions,
    HelpRequested,
)


def _table() -> FlagTable:
    """
    A small table with one flag of each kind, shaped like nsqd's.
    """
    return FlagTable(
        "demo",
        [
            Flag("config", STRING, "path to config file", default=""),
            Flag("version", BOOL, "print version string", default=False),
            Flag("tcp-address", STRING, "where to listen", "tcp_address", default=":1"),
            Flag("mem-queue-size", INT, "queue size", "mem_queue_size", default=10000),
            Flag("msg-timeout", DURATION, "timeout", "msg_timeout", default=60.0),
            Flag("snappy", BOOL, "enable snappy", "snappy", default=True),
            Flag("verbose", BOOL, "[deprecated] no effect", default=False),
            Flag(
                "lookupd-tcp-address",
                STRING_LIST,
                "lookupd address",
                "lookupds",
                configKey="nsqlookupd_tcp_addresses",
                default=[],
            ),
            Flag(
                "percentile",
                FLOAT_LIST,
                "percentiles",
                "percentiles",
                default=[],
            ),
            Flag("log-level", LOG_LEVEL, "verbosity", "log_level", default="info"),
            Flag("node-id", INT, "node", "node_id", configKey="id", default=7),
        ],
        version="demo v1",
    )


class ParseTests(SynchronousTestCase):
    """
    L{FlagTable.parse} follows Go's C{FlagSet.Parse}.
    """

    def test_spellings(self) -> None:
        """
        C{-f v}, C{--f v}, C{-f=v} and C{--f=v} all set a flag.
        """
        table = _table()
        for argv in (
            ["-tcp-address", "a:1"],
            ["--tcp-address", "a:1"],
            ["-tcp-address=a:1"],
            ["--tcp-address=a:1"],
        ):
            self.assertEqual(table.parse(argv).values, {"tcp-address": "a:1"}, argv)

    def test_typedValues(self) -> None:
        """
        Values are parsed by type: ints, Go durations, log levels.
        """
        parsed = _table().parse(
            ["-mem-queue-size=0x10", "--msg-timeout=1m30s", "-log-level", "WARN"]
        )
        self.assertEqual(
            parsed.values,
            {"mem-queue-size": 16, "msg-timeout": 90.0, "log-level": "warn"},
        )

    def test_booleans(self) -> None:
        """
        A bare boolean means true; C{=false}, C{=0}, C{=F} turn it off.
        """
        table = _table()
        self.assertEqual(table.parse(["--snappy"]).values, {"snappy": True})
        for text in ("false", "0", "F", "FALSE", "False", "f"):
            self.assertEqual(
                table.parse([f"-snappy={text}"]).values, {"snappy": False}, text
            )

    def test_booleanNeverTakesNextArgument(self) -> None:
        """
        As in Go, C{-snappy false} sets C{snappy} and stops parsing at the
        argument C{false}.
        """
        parsed = _table().parse(["-snappy", "false", "-verbose"])
        self.assertEqual(parsed.values, {"snappy": True})
        self.assertEqual(parsed.arguments, ["false", "-verbose"])

    def test_lastValueWins(self) -> None:
        """
        A scalar flag given twice keeps the last value.
        """
        parsed = _table().parse(["-mem-queue-size=1", "-mem-queue-size=2"])
        self.assertEqual(parsed.values, {"mem-queue-size": 2})

    def test_repeatableLists(self) -> None:
        """
        List flags accumulate; float lists also split commas and sort from
        largest to smallest, like NSQ's C{FloatArray}.
        """
        parsed = _table().parse(
            [
                "--lookupd-tcp-address=a:1",
                "-lookupd-tcp-address",
                "b:2,c:3",
                "-percentile=0.5,1.0",
                "-percentile",
                "0.99",
            ]
        )
        self.assertEqual(
            parsed.values,
            {
                "lookupd-tcp-address": ["a:1", "b:2,c:3"],
                "percentile": [1.0, 0.99, 0.5],
            },
        )

    def test_stopsAtPositional(self) -> None:
        """
        Parsing stops at the first non-flag, at C{-} and after C{--}.
        """
        table = _table()
        self.assertEqual(table.parse(["x", "-snappy"]).arguments, ["x", "-snappy"])
        self.assertEqual(table.parse(["-", "-snappy"]).arguments, ["-", "-snappy"])
        parsed = table.parse(["-verbose", "--", "-snappy"])
        self.assertEqual(parsed.values, {"verbose": True})
        self.assertEqual(parsed.arguments, ["-snappy"])

    def test_errors(self) -> None:
        """
        Mistakes raise L{FlagError} with the message Go's C{flag} prints.
        """
        cases = {
            ("-foo",): "flag provided but not defined: -foo",
            ("--foo=1",): "flag provided but not defined: -foo",
            ("---snappy",): "bad flag syntax: ---snappy",
            ("-=x",): "bad flag syntax: -=x",
            ("-tcp-address",): "flag needs an argument: -tcp-address",
            ("-mem-queue-size=ten",): (
                'invalid value "ten" for flag -mem-queue-size: parse error'
            ),
            ("-mem-queue-size=99999999999999999999",): (
                'invalid value "99999999999999999999" for flag -mem-queue-size: '
                "value out of range"
            ),
            ("-msg-timeout=60",): (
                'invalid value "60" for flag -msg-timeout: parse error'
            ),
            ("-snappy=yes",): 'invalid boolean value "yes" for -snappy: parse error',
            ("-log-level=loud",): (
                'invalid value "loud" for flag -log-level: '
                "invalid log level 'loud' (debug, info, warn, error, fatal)"
            ),
            ("-percentile=x",): 'invalid value "x" for flag -percentile: parse error',
        }
        for argv, message in cases.items():
            with self.assertRaises(FlagError, msg=argv) as raised:
                _table().parse(list(argv))
            self.assertEqual(str(raised.exception), message)

    def test_help(self) -> None:
        """
        C{-h}, C{-help} and C{--help} ask for the usage.
        """
        for arg in ("-h", "-help", "--help"):
            self.assertRaises(HelpRequested, _table().parse, [arg])

    def test_usage(self) -> None:
        """
        The usage is Go's: flags sorted by name, type names, defaults other
        than the zero value, strings quoted.
        """
        table = FlagTable(
            "demo",
            [
                Flag("tcp-address", STRING, "where to listen", default="0.0.0.0:4150"),
                Flag("snappy", BOOL, "enable snappy", default=True),
                Flag("verbose", BOOL, "no effect", default=False),
                Flag("msg-timeout", DURATION, "timeout", default=60.0),
                Flag("size", INT, "size", default=0),
                Flag("log-level", LOG_LEVEL, "verbosity", default="info"),
                Flag("lookupd", STRING_LIST, "lookupds", default=[]),
                Flag("x", BOOL, "one letter", default=False),
            ],
        )
        self.assertEqual(
            table.usage(),
            "Usage of demo:\n"
            "  -log-level value\n    \tverbosity (default INFO)\n"
            "  -lookupd value\n    \tlookupds\n"
            "  -msg-timeout duration\n    \ttimeout (default 1m0s)\n"
            "  -size int\n    \tsize\n"
            "  -snappy\n    \tenable snappy (default true)\n"
            '  -tcp-address string\n    \twhere to listen (default "0.0.0.0:4150")\n'
            "  -verbose\n    \tno effect\n"
            "  -x\tone letter\n",
        )

    def test_duplicateNames(self) -> None:
        """
        A table cannot have two flags of one name.
        """
        flag = Flag("a", BOOL, "a", default=False)
        self.assertRaises(ValueError, FlagTable, "demo", [flag, flag])


class ResolveTests(SynchronousTestCase):
    """
    L{FlagTable.resolve}: command line, then config file, then default.
    """

    def _configFile(self, text: str) -> str:
        path: str = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_defaults(self) -> None:
        """
        With nothing given, every flag has its default.
        """
        values = _table().resolve({})
        self.assertEqual(values["msg-timeout"], 60.0)
        self.assertEqual(values["lookupd-tcp-address"], [])
        self.assertEqual(values["snappy"], True)

    def test_precedence(self) -> None:
        """
        The command line beats the config file, which beats the default.
        """
        path = self._configFile(
            'msg_timeout = "90s"\nmem_queue_size = 5\ntcp_address = "b:2"\n'
        )
        table = _table()
        explicit = table.parse([f"--config={path}", "--mem-queue-size=7"]).values
        values = table.resolveWithConfigFile(explicit)
        self.assertEqual(values["mem-queue-size"], 7)
        self.assertEqual(values["msg-timeout"], 90.0)
        self.assertEqual(values["tcp-address"], "b:2")
        self.assertEqual(values["node-id"], 7)

    def test_configKeys(self) -> None:
        """
        Config keys are flag names with C{_}, except the special names (Go's
        C{cfg} tags); lists come as TOML arrays or comma strings.
        """
        config = {
            "id": 12,
            "nsqlookupd_tcp_addresses": ["a:1", "b:2"],
            "percentile": "1.0, 0.5",
            "snappy": False,
            "log_level": "ERROR",
            "node_id": 99,
            "unknown_key": "ignored",
        }
        values = _table().resolve({}, config)
        self.assertEqual(values["node-id"], 12)
        self.assertEqual(values["lookupd-tcp-address"], ["a:1", "b:2"])
        self.assertEqual(values["percentile"], [1.0, 0.5])
        self.assertEqual(values["snappy"], False)
        self.assertEqual(values["log-level"], "error")

    def test_configDurations(self) -> None:
        """
        Durations are Go duration strings; a bare integer means
        milliseconds, as go-options reads it.
        """
        table = _table()
        self.assertEqual(table.resolve({}, {"msg_timeout": "2m"})["msg-timeout"], 120.0)
        self.assertEqual(table.resolve({}, {"msg_timeout": 1500})["msg-timeout"], 1.5)

    def test_noEffectFlagsNotRead(self) -> None:
        """
        Flags without a config attribute (C{verbose}, C{version}) are not
        read from the file.
        """
        values = _table().resolve({}, {"verbose": True, "version": True})
        self.assertEqual((values["verbose"], values["version"]), (False, False))

    def test_configErrors(self) -> None:
        """
        Values of the wrong type or syntax are L{ConfigFileError}s.
        """
        table = _table()
        for config in (
            {"msg_timeout": "soon"},
            {"mem_queue_size": "many"},
            {"mem_queue_size": True},
            {"snappy": "perhaps"},
            {"log_level": "loud"},
            {"percentile": [True]},
        ):
            self.assertRaises(ConfigFileError, table.resolve, {}, config)

    def test_badFiles(self) -> None:
        """
        A missing or malformed file is a L{ConfigFileError} naming it.
        """
        table = _table()
        missing = self.mktemp()
        with self.assertRaises(ConfigFileError) as raised:
            table.resolveWithConfigFile({"config": missing})
        self.assertIn(f"failed to load config file {missing} - ", str(raised.exception))
        broken = self._configFile("msg_timeout = \n")
        self.assertRaises(
            ConfigFileError, table.resolveWithConfigFile, {"config": broken}
        )

    def test_sections(self) -> None:
        """
        A renamed copy of a table reads its keys from a TOML table, under
        the original names, and can be merged with another table.
        """
        inner = _table().renamed(
            {"tcp-address": "inner-tcp-address"},
            section="inner",
            drop=("config", "version"),
        )
        merged = FlagTable(
            "both", [Flag("config", STRING, "config", default="")]
        ).merged("both", inner)
        self.assertIn("inner-tcp-address", merged)
        self.assertNotIn("tcp-address", merged)
        values = merged.resolve(
            {}, {"tcp_address": "top:1", "inner": {"tcp_address": "in:2"}}
        )
        self.assertEqual(values["inner-tcp-address"], "in:2")
        self.assertRaises(ValueError, merged.merged, "again", inner)


class _DemoOptions(GoFlagOptions):
    """
    twistd options generated from L{_table}.
    """

    flagTable = _table()


class GoFlagOptionsTests(SynchronousTestCase):
    """
    L{GoFlagOptions}: the twistd front end of a table.
    """

    def _parse(self, *argv: str) -> dict[str, object]:
        options = _DemoOptions()
        options.parseOptions(list(argv))
        return options.flagValues

    def test_parameters(self) -> None:
        """
        Every flag is a C{--name=value} parameter with the table's parsing.
        """
        values = self._parse("--tcp-address=a:1", "--msg-timeout", "1m30s")
        self.assertEqual(values["tcp-address"], "a:1")
        self.assertEqual(values["msg-timeout"], 90.0)
        self.assertEqual(values["mem-queue-size"], 10000)

    def test_booleans(self) -> None:
        """
        Go booleans take the bare form and C{=false}.
        """
        self.assertEqual(self._parse("--snappy=false")["snappy"], False)
        self.assertEqual(self._parse("--snappy")["snappy"], True)
        self.assertEqual(self._parse("--verbose", "--snappy=0")["verbose"], True)

    def test_singleDash(self) -> None:
        """
        Go's single-dash spellings of table flags work under twistd too.
        """
        values = self._parse("-snappy=false", "-tcp-address", "a:1", "-verbose")
        self.assertEqual(
            (values["snappy"], values["tcp-address"], values["verbose"]),
            (False, "a:1", True),
        )

    def test_valueLooksLikeFlag(self) -> None:
        """
        The value of a parameter is never rewritten, even when it looks like
        a boolean flag.
        """
        self.assertEqual(
            self._parse("--tcp-address", "-snappy")["tcp-address"], "-snappy"
        )

    def test_lists(self) -> None:
        """
        List flags accumulate.
        """
        values = self._parse(
            "--lookupd-tcp-address=a:1", "--lookupd-tcp-address", "b:2"
        )
        self.assertEqual(values["lookupd-tcp-address"], ["a:1", "b:2"])

    def test_invalidValues(self) -> None:
        """
        Bad values are L{usage.UsageError}s with Go's wording.
        """
        with self.assertRaises(usage.UsageError) as raised:
            self._parse("--msg-timeout=soon")
        self.assertEqual(
            str(raised.exception),
            'invalid value "soon" for flag -msg-timeout: parse error',
        )
        self.assertRaises(usage.UsageError, self._parse, "--snappy=maybe")
        self.assertRaises(usage.UsageError, self._parse, "--percentile=x")
        self.assertRaises(usage.UsageError, self._parse, "--nope=1")

    def test_configFile(self) -> None:
        """
        C{--config} is honoured with the command line taking precedence.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('tcp_address = "c:3"\nmem_queue_size = 3\n')
        values = self._parse(f"--config={path}", "--mem-queue-size=4")
        self.assertEqual((values["tcp-address"], values["mem-queue-size"]), ("c:3", 4))
        self.assertRaises(usage.UsageError, self._parse, "--config=" + self.mktemp())

    def test_version(self) -> None:
        """
        C{--version} prints the table's version and exits.
        """
        output = io.StringIO()
        with redirect_stdout(output), self.assertRaises(SystemExit):
            self._parse("--version")
        self.assertEqual(output.getvalue(), "demo v1\n")

    def test_help(self) -> None:
        """
        The help lists every flag with its Go help and default.
        """
        text = str(_DemoOptions())
        self.assertIn("--msg-timeout=", text)
        self.assertIn("timeout (default 1m0s)", text)
        self.assertIn("--lookupd-tcp-address=", text)

    def test_pidfileNamedAfterProgram(self) -> None:
        """
        Under twistd, the default pidfile C{twistd.pid} becomes
        C{PROGRAM.pid} so two daemons can run from one folder; an explicit
        pidfile is kept.
        """
        for pidfile, expected in (("twistd.pid", "demo.pid"), ("x.pid", "x.pid")):
            parent = _Parent(pidfile)
            options = _DemoOptions()
            options.parent = parent
            options.parseOptions([])
            self.assertEqual(parent["pidfile"], expected)


class RunnerErrorTests(SynchronousTestCase):
    """
    A mistake on the command line of options run under twistd or twist
    (they have a C{parent}) is reported in one line, as Go reports it,
    instead of the runner printing its whole help; without a runner it is
    a L{usage.UsageError}.
    """

    def parseUnderRunner(self, *argv: str) -> tuple[int, str]:
        """
        Parse C{argv} as twistd would, with C{argv[0]} C{twistd}; return
        the exit status and what was written to stderr.
        """
        self.patch(sys, "argv", ["/usr/bin/twistd", "-n", "demo", *argv])
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        options = _DemoOptions()
        options.parent = _Parent("x.pid")
        with self.assertRaises(SystemExit) as raised:
            options.parseOptions(list(argv))
        code = raised.exception.code
        assert isinstance(code, int)
        return code, stderr.getvalue()

    def test_unknownFlag(self) -> None:
        """
        A flag the table lacks is Go's C{flag provided but not defined},
        with a pointer to C{--help}, status 2; so is a prefix of a defined
        flag, which getopt alone would accept.
        """
        for spelling in ("--nope", "-nope", "--nope=1"):
            self.assertEqual(
                self.parseUnderRunner(spelling),
                (
                    2,
                    "twistd demo: flag provided but not defined: -nope\n"
                    "Run 'twistd demo --help' for usage.\n",
                ),
            )
        status, text = self.parseUnderRunner("--tcp", "a:1")
        self.assertEqual(
            (status, text.splitlines()[0]),
            (2, "twistd demo: flag provided but not defined: -tcp"),
        )

    def test_badValue(self) -> None:
        """
        A value the flag cannot take is Go's C{invalid value ... for flag
        -name}, status 2.
        """
        self.assertEqual(
            self.parseUnderRunner("--msg-timeout=soon"),
            (
                2,
                'twistd demo: invalid value "soon" for flag -msg-timeout: '
                "parse error\nRun 'twistd demo --help' for usage.\n",
            ),
        )

    def test_unusableConfigFile(self) -> None:
        """
        Flags that parse but cannot be used (here a config file that does
        not exist) are one line without the pointer, status 1.
        """
        missing = self.mktemp()
        status, text = self.parseUnderRunner(f"--config={missing}")
        self.assertEqual((status, len(text.splitlines())), (1, 1), text)
        self.assertTrue(
            text.startswith(f"twistd demo: failed to load config file {missing} - "),
            text,
        )

    def test_withoutRunner(self) -> None:
        """
        Without a runner the mistake is raised, with Go's text.
        """
        options = _DemoOptions()
        with self.assertRaises(usage.UsageError) as raised:
            options.parseOptions(["--nope"])
        self.assertEqual(str(raised.exception), "flag provided but not defined: -nope")

    def test_goHelp(self) -> None:
        """
        C{-h} asks for the help, as in Go.
        """
        options = _DemoOptions()
        output = io.StringIO()
        with redirect_stdout(output), self.assertRaises(SystemExit) as raised:
            options.parseOptions(["-h"])
        self.assertEqual(raised.exception.code, 0)
        self.assertIn("--msg-timeout=", output.getvalue())

    def test_flagsEndAtFirstArgument(self) -> None:
        """
        As in Go, flags end at the first argument that is not one: what
        follows is not checked as a flag.
        """
        options = _DemoOptions()
        with self.assertRaises(usage.UsageError) as raised:
            options.parseOptions(["extra", "--nope"])
        self.assertNotIn("flag provided but not defined", str(raised.exception))


class _Parent(usage.Options):
    """
    Stands for twistd's C{ServerOptions}.
    """

    def __init__(self, pidfile: str) -> None:
        super().__init__()
        self["pidfile"] = pidfile
