# -*- test-case-name: tests._go.test_flags -*-
"""
Go's C{flag} package semantics over a declarative table of options.

Go NSQ's daemons parse their command line with Go's C{flag} package and read
an optional TOML file named by C{--config} (resolved by go-options: command
line beats config file beats default).  Client test harnesses and deployment
scripts rely on every spelling Go accepts (C{-f v}, C{--f=v}, bare booleans,
repeated list flags, Go durations), so txnsq parses the same syntax from one
L{FlagTable} per daemon.  The same table also generates the
L{twisted.python.usage.Options} used by C{twistd nsqd} (L{GoFlagOptions}),
so there is one list of flags and two front ends.

Values are held in the types the daemons' config classes use: C{str},
C{int}, C{bool}, C{float} seconds for durations, and lists.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
from twisted.python import usage

from txnsq._go.values import (
    SYNTAX,
    NumError,
    formatDuration,
    goQuote,
    parseBool,
    parseDuration,
    parseFloat,
    parseInt,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.9 and 3.10 (PyPy): the same parser, from PyPI
    import tomli as tomllib

__all__ = [
    "BOOL",
    "DURATION",
    "FLOAT_LIST",
    "INT",
    "LOG_LEVEL",
    "STRING",
    "STRING_LIST",
    "ConfigFileError",
    "Flag",
    "FlagError",
    "FlagTable",
    "FlagType",
    "FlagValueError",
    "GoFlagOptions",
    "HelpRequested",
    "ParsedFlags",
]


class FlagValueError(ValueError):
    """
    A flag's text could not be turned into a value.

    The message is the part Go prints after the colon, e.g. C{parse error}.
    """


class FlagError(Exception):
    """
    The command line is not valid; Go prints this message and the usage, and
    exits with status 2.
    """


class HelpRequested(FlagError):
    """
    C{-h}, C{-help} or C{--help} was given (and is not a defined flag); Go
    prints the usage and exits with status 0.
    """

    def __init__(self) -> None:
        super().__init__("flag: help requested")


class ConfigFileError(Exception):
    """
    The C{--config} file could not be read, or one of its values has the
    wrong type or syntax.  Go logs this at FATAL and exits with status 1.
    """


# -- flag types --------------------------------------------------------------


@attrs.frozen
class FlagType:
    """
    How one kind of Go flag reads text, reads TOML, and prints itself.

    @ivar typeName: the word Go's usage prints after the flag name
        (C{string}, C{int}, C{duration}, C{value}); empty for booleans.
    @ivar set: C{(current, text) -> new value}, Go's C{flag.Value.Set};
        raises L{FlagValueError} with the text Go prints after the colon.
    @ivar fromConfig: converts a value decoded from the TOML file, as
        go-options' C{coerce} does; raises C{ValueError} or C{TypeError}.
    @ivar show: Go's C{flag.Value.String} of a value, for usage defaults.
    @ivar zeroText: C{show} of the type's zero value: Go's usage omits a
        default that prints the same.
    @ivar isBool: Go's C{IsBoolFlag}: C{-f} alone means C{-f=true} and the
        next argument is never taken as the value.
    @ivar repeatable: each occurrence adds to a list rather than replacing.
    @ivar quoteDefault: the usage prints the default with C{%q} (string
        flags).
    """

    typeName: str
    set: Callable[[object, str], object]
    fromConfig: Callable[[object], object]
    show: Callable[[object], str]
    zeroText: str
    isBool: bool = False
    repeatable: bool = False
    quoteDefault: bool = False


def _configString(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    raise TypeError(f"invalid string value type {type(value).__name__}")


def _configInt(value: object) -> int:
    if isinstance(value, bool):
        raise TypeError("invalid int64 value type bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 10)
    raise TypeError(f"invalid int64 value type {type(value).__name__}")


def _configBool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return parseBool(value)
    if isinstance(value, int):
        # go-options maps integers to bools as (value == 0), which is
        # backwards; the intent, and what txnsq does, is C-like truth.
        return value != 0
    raise TypeError(f"invalid bool value type {type(value).__name__}")


def _configDuration(value: object) -> float:
    if isinstance(value, bool):
        raise TypeError("invalid time.Duration value type bool")
    if isinstance(value, str):
        return parseDuration(value)
    if isinstance(value, int):
        # go-options reads a bare TOML integer as milliseconds.
        return value / 1e3
    raise TypeError(f"invalid time.Duration value type {type(value).__name__}")


def _configStringList(value: object) -> list[str]:
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, list):
        return [_configString(item) for item in value]
    raise TypeError(f"invalid []string value type {type(value).__name__}")


def _configFloatList(value: object) -> list[float]:
    if isinstance(value, str):
        return [_flagFloat(item.strip()) for item in value.split(",")]
    if not isinstance(value, list):
        raise TypeError(f"invalid []float64 value type {type(value).__name__}")
    result: list[float] = []
    for item in value:
        if isinstance(item, str):
            result.append(_flagFloat(item.strip()))
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            result.append(float(item))
        else:
            raise TypeError(f"invalid float64 value type {type(item).__name__}")
    return result


def _setString(current: object, text: str) -> str:
    return text


def _flagInt(text: str) -> int:
    try:
        return parseInt(text)
    except NumError as e:
        # Go's flag package words strconv's reasons its own way.
        raise FlagValueError("parse error" if str(e) == SYNTAX else str(e)) from None


def _flagFloat(text: str) -> float:
    try:
        return parseFloat(text)
    except NumError as e:
        raise FlagValueError("parse error" if str(e) == SYNTAX else str(e)) from None


def _setInt(current: object, text: str) -> int:
    return _flagInt(text)


def _setBool(current: object, text: str) -> bool:
    try:
        return parseBool(text)
    except ValueError:
        raise FlagValueError("parse error")


def _setDuration(current: object, text: str) -> float:
    try:
        return parseDuration(text)
    except ValueError:
        raise FlagValueError("parse error")


def _setStringList(current: object, text: str) -> list[str]:
    assert isinstance(current, list)
    return [*current, text]


def _setFloatList(current: object, text: str) -> list[float]:
    # Go's FloatArray accepts comma-separated values and keeps the list
    # sorted from largest to smallest.
    assert isinstance(current, list)
    values = [float(item) for item in current]
    values.extend(_flagFloat(item) for item in text.split(","))
    return sorted(values, reverse=True)


def _showString(value: object) -> str:
    assert isinstance(value, str)
    return value


def _showInt(value: object) -> str:
    assert isinstance(value, int)
    return str(value)


def _showBool(value: object) -> str:
    return "true" if value else "false"


def _showDuration(value: object) -> str:
    assert isinstance(value, (int, float))
    return formatDuration(value)


def _showStringList(value: object) -> str:
    assert isinstance(value, list)
    return ",".join(value)


def _showFloatList(value: object) -> str:
    assert isinstance(value, list)
    return ",".join(f"{item:f}" for item in value)


STRING = FlagType(
    "string", _setString, _configString, _showString, "", quoteDefault=True
)
"""A Go C{flag.String}."""

INT = FlagType("int", _setInt, _configInt, _showInt, "0")
"""A Go C{flag.Int} or C{flag.Int64}."""

BOOL = FlagType("", _setBool, _configBool, _showBool, "false", isBool=True)
"""A Go C{flag.Bool}."""

DURATION = FlagType("duration", _setDuration, _configDuration, _showDuration, "0s")
"""A Go C{flag.Duration}, held as float seconds."""

STRING_LIST = FlagType(
    "value",
    _setStringList,
    _configStringList,
    _showStringList,
    "",
    repeatable=True,
)
"""NSQ's C{app.StringArray}: repeatable, one item per occurrence."""

FLOAT_LIST = FlagType(
    "value",
    _setFloatList,
    _configFloatList,
    _showFloatList,
    "",
    repeatable=True,
)
"""NSQ's C{app.FloatArray}: repeatable, comma lists, sorted descending."""


LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
"""NSQ's log levels, least severe first, as C{--log-level} spells them."""

_LOG_LEVEL_NAMES = {
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "error": "ERROR",
    "fatal": "FATAL",
}


def parseLogLevel(text: str) -> str:
    """
    Parse a log level as NSQ's C{lg.ParseLogLevel} (case-insensitive).

    @return: the lowercase name (C{"warn"}).
    @raise ValueError: with NSQ's message.
    """
    level = text.lower()
    if level not in _LOG_LEVEL_NAMES:
        raise ValueError(
            f"invalid log level '{text}' (debug, info, warn, error, fatal)"
        )
    return level


def _setLogLevel(current: object, text: str) -> str:
    try:
        return parseLogLevel(text)
    except ValueError as e:
        raise FlagValueError(str(e))


def _configLogLevel(value: object) -> str:
    return parseLogLevel(_configString(value))


def _showLogLevel(value: object) -> str:
    assert isinstance(value, str)
    return _LOG_LEVEL_NAMES.get(value, "invalid")


LOG_LEVEL = FlagType("value", _setLogLevel, _configLogLevel, _showLogLevel, "invalid")
"""NSQ's C{lg.LogLevel}, held as its lowercase name."""


# -- the table ---------------------------------------------------------------

_FROM_DEFAULTS: Any = object()


@attrs.frozen
class Flag:
    """
    One command-line flag.

    @ivar name: Go's flag name, without dashes (C{"tcp-address"}).
    @ivar type: how values are parsed and printed.
    @ivar usage: Go's help text.
    @ivar attribute: the config class attribute the value is stored in, or
        L{None} for flags with no effect on the config (C{--config},
        C{--version}, deprecated flags); those are also not read from the
        config file.
    @ivar default: the value when neither the command line nor the config
        file sets it; when omitted, L{FlagTable} takes it from its
        C{defaults} object's C{attribute}.
    @ivar configKey: the TOML key; the flag name with C{-} replaced by
        C{_} unless given (Go's C{cfg} struct tag).
    @ivar section: the TOML table holding C{configKey}, or L{None} for the
        top level (used by the combined C{nsq} daemon).
    """

    name: str
    type: FlagType
    usage: str
    attribute: str | None = None
    default: object = _FROM_DEFAULTS
    configKey: str | None = None
    section: str | None = None

    @property
    def tomlKey(self) -> str | None:
        """
        The key this flag is read from in the config file, or L{None}.
        """
        if self.attribute is None:
            return None
        return self.configKey or self.name.replace("-", "_")

    def initial(self) -> object:
        """
        A fresh copy of the default, safe for list flags to extend.
        """
        if isinstance(self.default, list):
            return list(self.default)
        return self.default

    def defaultUsage(self) -> str:
        """
        The C{(default X)} suffix Go's usage prints, or C{""} when the
        default is the type's zero value.
        """
        text = self.type.show(self.default)
        if text == self.type.zeroText:
            return ""
        if self.type.quoteDefault:
            return f" (default {goQuote(text)})"
        return f" (default {text})"


@attrs.frozen
class ParsedFlags:
    """
    The result of parsing a command line.

    @ivar values: flag name to value, for flags given on the command line.
    @ivar arguments: what followed the flags (Go stops at the first
        argument that is not a flag, or after C{--}).
    """

    values: dict[str, object]
    arguments: list[str]


class FlagTable:
    """
    The flags one program accepts, and Go's C{flag} + go-options behaviour
    over them.

    @ivar program: the name Go's usage prints (C{Usage of nsqd:}).
    @ivar flags: the flags, in declaration order.
    @ivar version: what C{--version} prints, if the table has that flag.
    """

    def __init__(
        self,
        program: str,
        flags: Iterable[Flag],
        defaults: object | None = None,
        version: str | None = None,
    ) -> None:
        """
        @param defaults: an instance of the config class whose attributes
            give the defaults of flags declared without one.
        """
        self.program = program
        self.version = version
        resolved: list[Flag] = []
        for flag in flags:
            if flag.default is _FROM_DEFAULTS:
                if defaults is None or flag.attribute is None:
                    raise ValueError(f"flag {flag.name!r} has no default")
                flag = attrs.evolve(flag, default=getattr(defaults, flag.attribute))
            resolved.append(flag)
        self.flags: tuple[Flag, ...] = tuple(resolved)
        self._byName = {flag.name: flag for flag in self.flags}
        if len(self._byName) != len(self.flags):
            raise ValueError(f"duplicate flag names in {program}")

    def __contains__(self, name: object) -> bool:
        return name in self._byName

    def __getitem__(self, name: str) -> Flag:
        return self._byName[name]

    def renamed(
        self,
        rename: Mapping[str, str],
        section: str | None = None,
        drop: Iterable[str] = (),
    ) -> FlagTable:
        """
        A copy with some flags renamed (their config attribute unchanged),
        some dropped, and every config key moved into a TOML table.
        """
        dropped = set(drop)
        flags = [
            attrs.evolve(
                flag,
                name=rename.get(flag.name, flag.name),
                configKey=flag.tomlKey,
                section=section,
            )
            for flag in self.flags
            if flag.name not in dropped
        ]
        return FlagTable(self.program, flags, version=self.version)

    def merged(
        self, program: str, other: FlagTable, version: str | None = None
    ) -> FlagTable:
        """
        A table with this table's flags followed by C{other}'s.

        @raise ValueError: if a name is in both.
        """
        return FlagTable(program, [*self.flags, *other.flags], version=version)

    # -- the command line ------------------------------------------------

    def parse(self, argv: Sequence[str]) -> ParsedFlags:
        """
        Parse a command line as Go's C{FlagSet.Parse} does.

        @raise HelpRequested: for C{-h}/C{-help} when not defined.
        @raise FlagError: with Go's message for any other mistake.
        """
        values: dict[str, object] = {}
        args = list(argv)
        index = 0
        while index < len(args):
            arg = args[index]
            if len(arg) < 2 or arg[0] != "-":
                break
            dashes = 1
            if arg[1] == "-":
                dashes = 2
                if len(arg) == 2:
                    index += 1
                    break
            name = arg[dashes:]
            if not name or name[0] in "-=":
                raise FlagError(f"bad flag syntax: {arg}")
            index += 1
            hasValue = False
            value = ""
            equals = name.find("=", 1)
            if equals != -1:
                name, value, hasValue = name[:equals], name[equals + 1 :], True
            flag = self._byName.get(name)
            if flag is None:
                if name in ("help", "h"):
                    raise HelpRequested()
                raise FlagError(f"flag provided but not defined: -{name}")
            current = values[name] if name in values else flag.initial()
            if flag.type.isBool:
                try:
                    values[name] = flag.type.set(current, value if hasValue else "true")
                except FlagValueError as e:
                    if hasValue:
                        raise FlagError(
                            f"invalid boolean value {goQuote(value)} for -{name}: {e}"
                        )
                    raise FlagError(f"invalid boolean flag {name}: {e}")
                continue
            if not hasValue and index < len(args):
                value, hasValue = args[index], True
                index += 1
            if not hasValue:
                raise FlagError(f"flag needs an argument: -{name}")
            try:
                values[name] = flag.type.set(current, value)
            except FlagValueError as e:
                raise FlagError(f"invalid value {goQuote(value)} for flag -{name}: {e}")
        return ParsedFlags(values, args[index:])

    def usage(self) -> str:
        """
        Go's usage text: C{Usage of nsqd:} then every flag, sorted by name.
        """
        lines = [f"Usage of {self.program}:"]
        for flag in sorted(self.flags, key=lambda flag: flag.name):
            head = f"  -{flag.name}"
            if flag.type.typeName:
                head += " " + flag.type.typeName
            # Go puts the help of one-letter flags on the same line.
            head += "\t" if len(head) <= 4 else "\n    \t"
            lines.append(
                head + flag.usage.replace("\n", "\n    \t") + flag.defaultUsage()
            )
        return "\n".join(lines) + "\n"

    # -- the config file -------------------------------------------------

    def loadConfigFile(self, path: str) -> dict[str, Any]:
        """
        Read a TOML config file.

        @raise ConfigFileError: C{failed to load config file PATH - ...}.
        """
        try:
            with open(path, "rb") as f:
                return tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigFileError(f"failed to load config file {path} - {e}")

    def resolve(
        self,
        explicit: Mapping[str, object],
        config: Mapping[str, Any] | None = None,
    ) -> dict[str, object]:
        """
        Every flag's value: from C{explicit} (the command line) if there,
        else from the decoded config file, else the default.  Keys of the
        config file that are not flags are ignored, as Go does.

        @raise ConfigFileError: for a config value of the wrong type or
            syntax.
        """
        config = config or {}
        result: dict[str, object] = {}
        for flag in self.flags:
            if flag.name in explicit:
                result[flag.name] = explicit[flag.name]
                continue
            key = flag.tomlKey
            scope: Any = config
            if flag.section is not None:
                scope = config.get(flag.section, {})
                if not isinstance(scope, dict):
                    raise ConfigFileError(f"failed parsing {flag.section}: not a table")
            if key is not None and key in scope:
                raw = scope[key]
                try:
                    result[flag.name] = flag.type.fromConfig(raw)
                except (ValueError, TypeError) as e:
                    shown = _tomlText(raw)
                    raise ConfigFileError(f"failed parsing {key} {shown} - {e}")
            else:
                result[flag.name] = flag.initial()
        return result

    def resolveWithConfigFile(
        self, explicit: Mapping[str, object]
    ) -> dict[str, object]:
        """
        L{resolve}, reading the file named by the C{config} flag if the
        table has one and it is set.

        @raise ConfigFileError: see L{loadConfigFile} and L{resolve}.
        """
        path: object = ""
        if "config" in self:
            path = explicit.get("config", self["config"].default)
        config = self.loadConfigFile(path) if isinstance(path, str) and path else {}
        return self.resolve(explicit, config)


def _tomlText(value: object) -> str:
    """
    Show a TOML value the way Go's C{%v} shows the decoded value.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_tomlText(item) for item in value) + "]"
    return str(value)


# -- the twistd front end ----------------------------------------------------


# Flags that are opt_ methods of usage.Options rather than table parameters.
_HANDLED_BY_TWISTED = ("version", "help")


class GoFlagOptions(usage.Options):
    """
    A L{usage.Options} generated from a L{FlagTable}, for C{twistd}.

    Subclasses set C{flagTable}; every flag becomes a C{--name} parameter
    (lists become repeatable C{opt_} handlers).  Go booleans (C{--snappy},
    C{--tls-required}) are parameters that also accept the bare form, and
    single-dash spellings of table flags (C{-snappy=false}) are accepted as
    Go accepts them; a flag the table lacks is Go's C{flag provided but not
    defined: -x} (not a prefix of a longer flag, as getopt would take it).
    After parsing, C{flagValues} holds every flag's value with the command
    line, the C{--config} file and the defaults resolved.

    Under a runner (twistd, twist: the options have a C{parent}) a mistake
    is one line on stderr, as Go's, not the runner's whole help followed by
    the error: C{twistd nsqd: <error>} and a line pointing at C{--help},
    exit status 2 for a bad command line (Go's flag package), 1 for options
    that are valid flags but not a valid configuration (Go's C{FATAL}).

    @cvar flagTable: the table to generate options from.
    @ivar flagValues: flag name to resolved value, set by L{postOptions}.
    """

    flagTable: ClassVar[FlagTable]
    flagValues: dict[str, object]
    # Whether parsing has reached the resolution of the flags' values.
    _resolving = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = cls.__dict__.get("flagTable")
        if table is None:
            return
        parameters: list[list[object]] = []
        for flag in table.flags:
            if flag.name in _HANDLED_BY_TWISTED:
                continue
            if flag.type.repeatable:
                setattr(cls, "opt_" + flag.name.replace("-", "_"), _listHandler(flag))
            else:
                parameters.append(
                    [flag.name, None, None, _twistedDoc(flag), _coercer(flag)]
                )
        cls.optParameters = parameters  # type: ignore[attr-defined]

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        """
        Rewrite Go spellings getopt does not know, then parse.

        @raise usage.UsageError: for a mistake, when not under a runner.
        @raise SystemExit: for a mistake under a runner, once reported.
        """
        if options is None:
            options = sys.argv[1:]
        self._resolving = False
        try:
            super().parseOptions(self._goSpellings(list(options)))  # type: ignore[no-untyped-call]
        except usage.UsageError as e:
            if getattr(self, "parent", None) is None:
                raise
            self._exitWithError(str(e))

    def _exitWithError(self, message: str) -> None:
        """
        Report a mistake in one line, as Go does, and exit.
        """
        command = f"{os.path.basename(sys.argv[0])} {self.flagTable.program}"
        if self._resolving:
            # The flags parsed; what they say cannot be used.
            sys.stderr.write(f"{command}: {message}\n")
            raise SystemExit(1)
        sys.stderr.write(f"{command}: {message}\nRun '{command} --help' for usage.\n")
        raise SystemExit(2)

    def _goSpellings(self, args: list[str]) -> list[str]:
        """
        Turn C{-name...} into C{--name...} for table flags and a bare Go
        boolean C{--name} into C{--name=true}.
        """
        table = self.flagTable
        result: list[str] = []
        expectValue = False
        for position, arg in enumerate(args):
            if expectValue:
                result.append(arg)
                expectValue = False
                continue
            if arg == "--" or not arg.startswith("-") or arg == "-":
                # Flags end at the first argument that is not one, as in Go.
                result.extend(args[position:])
                break
            singleDash = arg.startswith("-") and not arg.startswith("--")
            if arg == "-h":
                # Go's flag package takes -h as -help.
                arg = "--help"
            elif singleDash and (
                arg[1:].split("=", 1)[0] in table or arg[1:] in ("help", "version")
            ):
                arg = "-" + arg
            if arg.startswith("-") and len(arg) > 1:
                name = arg.lstrip("-").split("=", 1)[0]
                if name not in table and name not in _HANDLED_BY_TWISTED:
                    raise usage.UsageError(f"flag provided but not defined: -{name}")
            if arg.startswith("--") and len(arg) > 2:
                name, equals, _ = arg[2:].partition("=")
                if name in table and name not in _HANDLED_BY_TWISTED:
                    flag = table[name]
                    if flag.type.isBool and not equals:
                        arg += "=true"
                    elif not equals:
                        expectValue = True
            result.append(arg)
        return result

    def opt_version(self) -> None:
        """
        Print the version and exit.
        """
        print(self.flagTable.version)
        sys.exit(0)

    def explicitValues(self) -> dict[str, object]:
        """
        The flags given on the command line, by name.
        """
        return {
            flag.name: self[flag.name]
            for flag in self.flagTable.flags
            if self.get(flag.name) is not None
        }

    def postOptions(self) -> None:
        """
        Resolve the command line against the config file and defaults.

        @raise usage.UsageError: if the config file cannot be used.
        """
        # From here on a mistake is in what the flags say, not in how they
        # were written (see _exitWithError); subclasses validate after this.
        self._resolving = True
        try:
            self.flagValues = self.flagTable.resolveWithConfigFile(
                self.explicitValues()
            )
        except ConfigFileError as e:
            raise usage.UsageError(str(e))
        self._namePidfile()

    def _namePidfile(self) -> None:
        """
        Under twistd, replace its default pidfile C{twistd.pid} with
        C{PROGRAM.pid}, so nsqd and nsqlookupd started from one folder do
        not refuse to start because of each other's pidfile.  An explicit
        C{--pidfile} (other than C{twistd.pid}) is left alone.
        """
        parent = getattr(self, "parent", None)
        if isinstance(parent, usage.Options) and parent.get("pidfile") == "twistd.pid":
            parent["pidfile"] = f"{self.flagTable.program}.pid"


def _twistedDoc(flag: Flag) -> str:
    default = flag.type.show(flag.default)
    if default == flag.type.zeroText:
        return flag.usage
    return f"{flag.usage} (default {default})"


def _coercer(flag: Flag) -> Callable[[str], object]:
    def coerce(text: str) -> object:
        try:
            return flag.type.set(flag.initial(), text)
        except FlagValueError as e:
            raise usage.UsageError(
                f"invalid value {goQuote(text)} for flag -{flag.name}: {e}"
            )

    return coerce


def _listHandler(flag: Flag) -> Callable[[GoFlagOptions, str], None]:
    def handler(self: GoFlagOptions, value: str) -> None:
        current = self[flag.name] if flag.name in self else flag.initial()
        try:
            self[flag.name] = flag.type.set(current, value)
        except FlagValueError as e:
            raise usage.UsageError(
                f"invalid value {goQuote(value)} for flag -{flag.name}: {e}"
            )

    handler.__doc__ = f"{flag.usage}"
    return handler


# -- what every NSQ daemon has ------------------------------------------------


def daemonVersion(program: str) -> str:
    """
    What a daemon's C{--version} prints: Go's C{nsqd v1.3.0 (built
    w/go1.19.8)} with txnsq in place of the Go toolchain.
    """
    from txnsq import NSQ_VERSION, __version__

    return f"{program} v{NSQ_VERSION} (built w/txnsq-{__version__})"


def daemonFlags() -> list[Flag]:
    """
    The flags nsqd and nsqlookupd share: C{--config}, C{--version} and the
    logging ones.
    """
    return [
        Flag("config", STRING, "path to config file", default=""),
        Flag("version", BOOL, "print version string", default=False),
        Flag(
            "log-level",
            LOG_LEVEL,
            "set log verbosity: debug, info, warn, error, or fatal",
            "log_level",
        ),
        Flag("log-prefix", STRING, "log message prefix", "log_prefix"),
        Flag(
            "verbose",
            BOOL,
            "[deprecated] has no effect, use --log-level",
            default=False,
        ),
    ]


def httpClientTimeoutFlags() -> list[Flag]:
    """
    C{--http-client-connect-timeout} and C{--http-client-request-timeout},
    which nsqd and nsqadmin declare alike (for their requests to
    nsqlookupd and nsqd, and nsqd's to an auth server).
    """
    return [
        Flag(
            "http-client-connect-timeout",
            DURATION,
            "timeout for HTTP connect",
            "http_client_connect_timeout",
        ),
        Flag(
            "http-client-request-timeout",
            DURATION,
            "timeout for HTTP request",
            "http_client_request_timeout",
        ),
    ]
