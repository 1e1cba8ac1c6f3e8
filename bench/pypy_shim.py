"""
Copy this checkout's C{txnsq} (and its twistd plugin) into a directory,
rewritten so that it imports on Python 3.9 (Debian 12's C{pypy3} is PyPy
7.3.11, Python 3.9), to benchmark nsqd under PyPy before txnsq itself
supports that version.  The checkout is not touched.

Usage::

    python bench/pypy_shim.py /tmp/txnsq-pypy --python /tmp/pypy-venv/bin/python
    python bench/run.py --python /tmp/pypy-venv/bin/python \\
        --source-root /tmp/txnsq-pypy --phases pubsub,combined

What it rewrites (each a thing txnsq uses that Python 3.9 or PyPy lacks):

  - names that C{typing} gained after 3.9 (C{ParamSpec}, C{Concatenate},
    C{assert_never}, ...) are imported from C{typing_extensions};
  - C{tomllib} (3.11) becomes C{tomli};
  - module-level aliases C{X = A | B} become C{typing.Union[A, B]}, and
    C{isinstance(x, A | B)} takes a tuple (3.10 evaluates C{|} of types);
  - the one C{match} statement (3.10 syntax, in the nsqlookupd protocol)
    becomes an C{isinstance} chain;
  - C{import cramjam} becomes optional (cramjam has no PyPy wheel: snappy
    is unavailable);
  - C{gc.callbacks} (which PyPy lacks) is used only where it exists.

The venv needs C{typing_extensions} and C{tomli} besides Twisted, klein,
treq and attrs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# typing names Python 3.9 lacks.
_NEW_TYPING = {
    "Concatenate",
    "ParamSpec",
    "ParamSpecArgs",
    "ParamSpecKwargs",
    "TypeAlias",
    "TypeGuard",
    "assert_never",
    "assert_type",
    "Self",
    "Never",
    "LiteralString",
    "Required",
    "NotRequired",
    "Unpack",
    "TypeVarTuple",
    "reveal_type",
    "dataclass_transform",
    "override",
    "is_typeddict",
}
_TYPING_IMPORT = re.compile(r"^from typing import ([^(\n]+)$", re.M)
_ALIAS = re.compile(
    r"^(\w+)(?:: TypeAlias)? = ([\w.\[\], ]+?(?: \| [\w.\[\], ]+)+)$", re.M
)
_ISINSTANCE = re.compile(r"isinstance\(([^,()]+), ([\w.]+(?: \| [\w.]+)+)\)")
_GC_CALLBACKS = re.compile(r"^(\s*)gc\.callbacks\.append\((.*)\)$", re.M)
_MATCH_CASES = [
    (
        "            match record:\n                case Ping():\n",
        "            if isinstance(record, Ping):\n",
    ),
    (
        "                case Identify(peer=identity):\n",
        "            elif isinstance(record, Identify):\n                    identity = record.peer\n",
    ),
    (
        "                case Register(topic=topic, channel=channel):\n",
        "            elif isinstance(record, Register):\n"
        "                    topic, channel = record.topic, record.channel\n",
    ),
    (
        "                case Unregister(topic=topic, channel=channel):\n",
        "            elif isinstance(record, Unregister):\n"
        "                    topic, channel = record.topic, record.channel\n",
    ),
    (
        "                case ProtocolError():\n",
        "            elif isinstance(record, ProtocolError):\n",
    ),
    ("                case _:\n", "            else:\n"),
]


def _splitTypingImport(match: re.Match[str]) -> str:
    names = [n.strip() for n in match.group(1).split(",") if n.strip()]
    old = [n for n in names if n.split(" as ")[0] not in _NEW_TYPING]
    new = [n for n in names if n.split(" as ")[0] in _NEW_TYPING]
    lines = []
    if old:
        lines.append(f"from typing import {', '.join(old)}")
    if new:
        lines.append(f"from typing_extensions import {', '.join(new)}")
    return "\n".join(lines)


def rewrite(source: str) -> str:
    """
    One module's source, rewritten for Python 3.9 and PyPy.
    """
    source = _TYPING_IMPORT.sub(_splitTypingImport, source)
    source = source.replace("import tomllib\n", "import tomli as tomllib\n")
    source = _ALIAS.sub(
        lambda m: (
            f"{m.group(1)} = __import__('typing').Union[{m.group(2).replace(' | ', ', ')}]"
        ),
        source,
    )
    source = _ISINSTANCE.sub(
        lambda m: f"isinstance({m.group(1)}, ({m.group(2).replace(' | ', ', ')},))",
        source,
    )
    source = source.replace(
        "import cramjam\n",
        "try:\n    import cramjam\nexcept ImportError:  # no PyPy wheel\n    cramjam = None\n",
    )
    source = _GC_CALLBACKS.sub(
        r'\1if hasattr(gc, "callbacks"):\n\1    gc.callbacks.append(\2)', source
    )
    if "            match record:\n" in source:
        for old, new in _MATCH_CASES:
            source = source.replace(old, new)
    return source


def build(destination: str) -> int:
    """
    Copy and rewrite the tree into C{destination} (replacing it).

    @return: how many modules changed.
    """
    shutil.rmtree(destination, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "dropin.cache")
    shutil.copytree(
        os.path.join(ROOT, "txnsq"), os.path.join(destination, "txnsq"), ignore=ignore
    )
    plugins = os.path.join(destination, "twisted", "plugins")
    os.makedirs(plugins)
    shutil.copy(os.path.join(ROOT, "twisted", "plugins", "txnsq_plugins.py"), plugins)
    changed = 0
    for directory, _, files in os.walk(destination):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            with open(path) as f:
                source = f.read()
            new = rewrite(source)
            if new != source:
                changed += 1
                with open(path, "w") as f:
                    f.write(new)
    return changed


def main() -> None:
    """
    Build the copy, then check that C{--python} can import nsqd from it.
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("destination")
    parser.add_argument("--python", help="check that this interpreter imports it")
    args = parser.parse_args()
    changed = build(args.destination)
    print(f"{changed} modules rewritten into {args.destination}")
    if args.python:
        check = subprocess.run(
            [
                args.python,
                "-c",
                "import txnsq.nsqd.tap, txnsq.nsqlookupd.tap, txnsq.combined",
            ],
            env=dict(os.environ, PYTHONPATH=args.destination),
            cwd=args.destination,
            capture_output=True,
            text=True,
        )
        if check.returncode:
            print(check.stderr, file=sys.stderr)
            raise SystemExit(f"{args.python} cannot import nsqd from the copy")
        print(f"{args.python} imports nsqd from the copy")


if __name__ == "__main__":
    main()
