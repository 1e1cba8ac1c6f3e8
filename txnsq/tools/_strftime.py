# -*- test-case-name: tests.tools.test_nsq_to_file -*-
"""
The C{<DATETIME>} of C{nsq_to_file}'s file names, as Go NSQ 1.3.0 writes it.

Go's C{nsq_to_file} does not call C{strftime(3)}: it translates the
C{--datetime-format} into a Go time layout (C{%Y} becomes C{2006}, C{%m}
becomes C{01}, ...) and formats the time with Go's C{time.Format}.  Two
consequences operators can see, and which this module keeps:

  - names and AM/PM are always English, whatever the locale;
  - the text around the directives is itself read as a Go layout, so a
    literal C{1} in the format prints the month, C{Mon} the weekday.

Only the directives Go knows are translated (C{%B %b %m %A %a %d %H %I %M
%S %Y %y %p %Z %z %%}); any other C{%x} stays as it is.

Standard library only.
"""

from __future__ import annotations

import time

__all__ = ["goTimeFormat", "strftime", "strftimeLayout"]

# apps/nsq_to_file/strftime.go's conversion table.
_CONVERSION = {
    "B": "January",
    "b": "Jan",
    "m": "01",
    "A": "Monday",
    "a": "Mon",
    "d": "02",
    "H": "15",
    "I": "03",
    "M": "04",
    "S": "05",
    "Y": "2006",
    "y": "06",
    "p": "PM",
    "Z": "MST",
    "z": "-0700",
    "%": "%",
}

_LONG_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Go's weekdays start on Sunday; Python's tm_wday starts on Monday.
_LONG_DAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)


def strftimeLayout(format: str) -> str:
    """
    The Go layout C{nsq_to_file} makes of a C{--datetime-format}.
    """
    layout: list[str] = []
    i = 0
    length = len(format)
    while i < length:
        if format[i] == "%" and i <= length - 2:
            converted = _CONVERSION.get(format[i + 1])
            if converted is not None:
                layout.append(converted)
                i += 2
                continue
        layout.append(format[i])
        i += 1
    return "".join(layout)


def strftime(format: str, when: float) -> str:
    """
    Format the POSIX time C{when}, in local time, as Go's C{nsq_to_file}
    formats C{--datetime-format}.
    """
    return goTimeFormat(strftimeLayout(format), when)


def _startsWithLowerCase(text: str) -> bool:
    return bool(text) and "a" <= text[0] <= "z"


def _isDigit(text: str, index: int) -> bool:
    return index < len(text) and "0" <= text[index] <= "9"


# The chunk kinds of Go's time/format.go, by their layout spelling.
_TZ_CHUNKS = (
    ("-070000", "-070000"),
    ("-07:00:00", "-07:00:00"),
    ("-0700", "-0700"),
    ("-07:00", "-07:00"),
    ("-07", "-07"),
)
_ISO_TZ_CHUNKS = (
    ("Z070000", "Z070000"),
    ("Z07:00:00", "Z07:00:00"),
    ("Z0700", "Z0700"),
    ("Z07:00", "Z07:00"),
    ("Z07", "Z07"),
)


def _nextChunk(layout: str) -> tuple[str, str, str]:
    """
    Go's C{nextStdChunk}: the literal prefix, the first layout element
    (empty if none) and the rest.
    """
    n = len(layout)
    for i, c in enumerate(layout):
        rest = layout[i:]
        if c == "J" and rest.startswith("Jan"):
            if rest.startswith("January"):
                return layout[:i], "January", layout[i + 7 :]
            if not _startsWithLowerCase(layout[i + 3 :]):
                return layout[:i], "Jan", layout[i + 3 :]
        elif c == "M" and n >= i + 3:
            if rest.startswith("Mon"):
                if rest.startswith("Monday"):
                    return layout[:i], "Monday", layout[i + 6 :]
                if not _startsWithLowerCase(layout[i + 3 :]):
                    return layout[:i], "Mon", layout[i + 3 :]
            if rest.startswith("MST"):
                return layout[:i], "MST", layout[i + 3 :]
        elif c == "0":
            if n >= i + 2 and "1" <= layout[i + 1] <= "6":
                return layout[:i], layout[i : i + 2], layout[i + 2 :]
            if rest.startswith("002"):
                return layout[:i], "002", layout[i + 3 :]
        elif c == "1":
            if rest.startswith("15"):
                return layout[:i], "15", layout[i + 2 :]
            return layout[:i], "1", layout[i + 1 :]
        elif c == "2":
            if rest.startswith("2006"):
                return layout[:i], "2006", layout[i + 4 :]
            return layout[:i], "2", layout[i + 1 :]
        elif c == "_":
            if rest.startswith("_2"):
                # "_2006" is a literal underscore and the year.
                if rest.startswith("_2006"):
                    return layout[: i + 1], "2006", layout[i + 5 :]
                return layout[:i], "_2", layout[i + 2 :]
            if rest.startswith("__2"):
                return layout[:i], "__2", layout[i + 3 :]
        elif c in "345":
            return layout[:i], c, layout[i + 1 :]
        elif c == "P" and rest.startswith("PM"):
            return layout[:i], "PM", layout[i + 2 :]
        elif c == "p" and rest.startswith("pm"):
            return layout[:i], "pm", layout[i + 2 :]
        elif c == "-":
            for spelling, kind in _TZ_CHUNKS:
                if rest.startswith(spelling):
                    return layout[:i], kind, layout[i + len(spelling) :]
        elif c == "Z":
            for spelling, kind in _ISO_TZ_CHUNKS:
                if rest.startswith(spelling):
                    return layout[:i], kind, layout[i + len(spelling) :]
        elif c in ".," and n > i + 1 and layout[i + 1] in "09":
            digit = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == digit:
                j += 1
            # Only a run of one digit that ends here is a fraction.
            if not _isDigit(layout, j):
                return layout[:i], layout[i:j], layout[j:]
    return layout, "", ""


def _zone(kind: str, offset: int, name: str) -> str:
    if kind == "MST":
        if name:
            return name
        kind = "-0700"
    if kind.startswith("Z"):
        if offset == 0:
            return "Z"
        kind = "-" + kind[1:]
    minutes = offset // 60 if offset >= 0 else -((-offset) // 60)
    sign = "+"
    if minutes < 0:
        sign, minutes, offset = "-", -minutes, -offset
    text = f"{sign}{minutes // 60:02d}"
    colon = ":" in kind
    if kind != "-07":
        text += (":" if colon else "") + f"{minutes % 60:02d}"
    if kind in ("-070000", "-07:00:00"):
        text += (":" if colon else "") + f"{offset % 60:02d}"
    return text


def goTimeFormat(layout: str, when: float) -> str:
    """
    Go's C{time.Time.Format(layout)} for the POSIX time C{when} in local
    time (Go's C{time.Now()}).
    """
    tm = time.localtime(when)
    nanoseconds = round((when - int(when)) * 1e6) * 1000 % 1_000_000_000
    offset = tm.tm_gmtoff or 0
    zoneName = tm.tm_zone or ""
    hour12 = tm.tm_hour % 12 or 12
    simple = {
        "January": _LONG_MONTHS[tm.tm_mon - 1],
        "Jan": _LONG_MONTHS[tm.tm_mon - 1][:3],
        "1": str(tm.tm_mon),
        "01": f"{tm.tm_mon:02d}",
        "Monday": _LONG_DAYS[tm.tm_wday],
        "Mon": _LONG_DAYS[tm.tm_wday][:3],
        "2": str(tm.tm_mday),
        "_2": f"{tm.tm_mday:2d}",
        "02": f"{tm.tm_mday:02d}",
        "__2": f"{tm.tm_yday:3d}",
        "002": f"{tm.tm_yday:03d}",
        "15": f"{tm.tm_hour:02d}",
        "3": str(hour12),
        "03": f"{hour12:02d}",
        "4": str(tm.tm_min),
        "04": f"{tm.tm_min:02d}",
        "5": str(tm.tm_sec),
        "05": f"{tm.tm_sec:02d}",
        "2006": f"{tm.tm_year:04d}",
        "06": f"{tm.tm_year % 100:02d}",
        "PM": "PM" if tm.tm_hour >= 12 else "AM",
        "pm": "pm" if tm.tm_hour >= 12 else "am",
    }
    out: list[str] = []
    while layout:
        prefix, kind, layout = _nextChunk(layout)
        out.append(prefix)
        if not kind:
            break
        text = simple.get(kind)
        if text is not None:
            out.append(text)
        elif kind[0] in ".,":
            digits = f"{nanoseconds:09d}"[: len(kind) - 1]
            if kind[1] == "9":
                digits = digits.rstrip("0")
                if digits:
                    out.append(kind[0] + digits)
            else:
                out.append(kind[0] + digits)
        else:
            out.append(_zone(kind, offset, zoneName))
    return "".join(out)
