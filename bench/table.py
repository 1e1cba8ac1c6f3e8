"""
Issue 19's side-by-side table in one command: every row measured for Go
nsqd, txnsq on CPython (this interpreter) and txnsq on PyPy, the three
targets interleaved run by run (Go, CPython, PyPy, Go, CPython, PyPy, ...)
so that the machine's drift falls on all three alike; medians, ratios to
Go, the commit, the date and the load.

Usage::

    python bench/table.py --go-bin /opt/go-nsq/bin --pypy /tmp/pypy-venv/bin/python \\
        --markdown /tmp/table.md
    python bench/table.py --go-bin DIR --pypy PYTHON --dry-run
    python bench/table.py --go-bin DIR --rows pubsub,latency --runs 1 --runfor 1s

Each row is one of L{run}'s phases or one case of L{scale}, called in this
process (so the load generator is the same for all three targets: Go's
C{bench_writer}/C{bench_reader} from C{--go-bin} for the throughput rows,
L{nsqbench} for the rest).  PyPy's nsqd runs with C{PYPY_GC_NURSERY=16MB}.
Options this script does not know go to C{run.py}'s parser (for example
C{--queued}, C{--idle-connections}, C{--hold}, C{--rate}, C{--nsqd-flag}).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import fnmatch
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nsqbench
import run
import scale

Measure = Callable[[argparse.Namespace], "dict[str, float]"]
Estimate = Callable[[argparse.Namespace], float]

# Seconds to start a daemon and create its topic, on average over targets.
_START = 2.5


@dataclass(frozen=True)
class Figure:
    """
    One line of the table: its label (formatted with the options, e.g.
    C{{queued:,}}) and the pattern (L{fnmatch}) of the measured key.
    """

    label: str
    key: str
    # "p99 < 2 ms in k of n runs": a line counting runs under this value.
    under: float | None = None


@dataclass(frozen=True)
class Row:
    """
    One measurement, run once per target per run, giving one or more
    figures.  C{runs} names the option giving how many times it runs
    (C{runs}, C{slow_runs} or C{heavy_runs}).
    """

    name: str
    figures: tuple[Figure, ...]
    measure: Measure
    seconds: Estimate
    runs: str = "runs"


@dataclass(frozen=True)
class Target:
    """
    A server to measure: changes to the run options, and to the environment.
    """

    name: str
    options: dict[str, str]
    env: dict[str, str]


def _phase(name: str) -> Measure:
    def measure(ns: argparse.Namespace) -> dict[str, float]:
        results = run.Results()
        run.PHASES[name](ns, results)
        return {key: values[-1] for key, values in results.rows.items()}

    return measure


def _latency(ns: argparse.Namespace) -> dict[str, float]:
    return _phase("latency")(_with(ns, runfor=ns.latency_runfor))


def _with(ns: argparse.Namespace, **changes: object) -> argparse.Namespace:
    out = copy.copy(ns)
    for name, value in changes.items():
        setattr(out, name, value)
    return out


def _scale(case: str, count: int) -> Measure:
    def measure(ns: argparse.Namespace) -> dict[str, float]:
        return scale.CASES[case](ns, [count])

    return measure


def _pubsubSeconds(ns: argparse.Namespace) -> float:
    # Publish, top up (Go's reader runs for all of --runfor), consume.
    return _START + 3 * float(ns.runfor) + 1


def _topicsSeconds(count: int) -> Estimate:
    # 6 HTTP calls per topic (each rewrites the metadata file: ~10 ms at
    # 1,000 topics), the publish, 5 GET /stats.
    return lambda ns: _START + count * 6 * 0.01 + ns.messages / 60_000 + count * 0.004


def _consumersSeconds(count: int) -> Estimate:
    return lambda ns: _START + ns.messages / 80_000 + 1 + count * 0.05


def _sizeSeconds(size: int) -> Estimate:
    # Each way: bytes at ~80 MB/s, or messages at ~120k/s, whichever is slower.
    return lambda ns: _START + 1 + 2 * max(ns.bytes / 80e6, ns.bytes / size / 120_000)


def _rows() -> list[Row]:
    rows = [
        Row(
            "pubsub",
            (
                Figure("publish, MPUB 200 B (msg/s)", "publish (MPUB 200)"),
                Figure("consume with FIN (msg/s)", "consume with FIN*"),
                Figure("peak RSS after pubsub (MB)", "peak RSS, default flags (MB)"),
            ),
            _phase("pubsub"),
            _pubsubSeconds,
        ),
        Row(
            "combined",
            (
                Figure("both at once: publish (msg/s)", "combined: publish"),
                Figure("both at once: consume (msg/s)", "combined: consume"),
            ),
            _phase("combined"),
            lambda ns: _START + ns.runfor + 1,
        ),
        Row(
            "single",
            (Figure("1 msg per MPUB (msg/s)", "publish, 1 msg per MPUB"),),
            _phase("single"),
            lambda ns: _START + ns.runfor + 1,
        ),
        Row(
            "pub",
            (Figure("1 msg per PUB (msg/s)", "publish, 1 msg per PUB"),),
            _phase("pub"),
            lambda ns: _START + ns.runfor + 1.5,
        ),
        Row(
            "memq0",
            (
                Figure("--mem-queue-size=0: publish (msg/s)", "memq0: publish"),
                Figure("--mem-queue-size=0: consume (msg/s)", "memq0: consume"),
            ),
            _phase("memq0"),
            _pubsubSeconds,
        ),
        Row(
            "latency",
            (
                Figure(
                    "publish→deliver p50 at {rate:,.0f} msg/s (ms)", "latency p50 *"
                ),
                Figure(
                    "publish→deliver p99 at {rate:,.0f} msg/s (ms)",
                    "latency p99 *",
                    under=2.0,
                ),
                Figure(
                    "publish→deliver p99.9 at {rate:,.0f} msg/s (ms)", "latency p99.9 *"
                ),
            ),
            _latency,
            lambda ns: _START + ns.latency_runfor + 1,
        ),
        Row(
            "memory",
            (
                Figure(
                    "RSS, {queued:,} queued, default flags (MB)",
                    "RSS, * queued, default flags (MB)",
                ),
                Figure(
                    "bytes per queued message over the body, all in memory",
                    "overhead per queued message*",
                ),
            ),
            _phase("memory"),
            # Two daemons, each filled and settled.
            lambda ns: 2 * (_START + 3 + ns.queued / 100_000),
            runs="slow_runs",
        ),
        Row(
            "idle",
            (
                Figure("idle RSS, just started (MB)", "RSS just started (MB)"),
                Figure(
                    "bytes per idle connection ({idle_connections:,} IDENTIFY)",
                    "bytes per idle connection",
                ),
            ),
            _phase("idle"),
            lambda ns: _START + 1 + ns.idle_connections / 1000 + ns.hold,
            runs="slow_runs",
        ),
    ]
    for count in scale.TOPIC_COUNTS:
        rows.append(
            Row(
                f"topics-{count}",
                (
                    Figure(
                        f"publish, {count:,} topics \u00d7 5 channels (msg/s)",
                        f"topics {count}: publish*",
                    ),
                    Figure(
                        f"/stats, {count:,} topics \u00d7 5 channels (ms)",
                        f"topics {count}: /stats*",
                    ),
                ),
                _scale("topics", count),
                _topicsSeconds(count),
                # 6,000 HTTP calls to set up: the longest row by far.
                runs="heavy_runs" if count >= 1000 else "slow_runs",
            )
        )
    for count in scale.CONSUMER_COUNTS:
        rows.append(
            Row(
                f"consumers-{count}",
                (
                    Figure(
                        f"consume, {count} consumers on one channel (msg/s)",
                        f"consumers {count}: *",
                    ),
                ),
                _scale("consumers", count),
                _consumersSeconds(count),
                runs="slow_runs",
            )
        )
    for size in scale.SIZES:
        label = {200: "200 B", 10_000: "10 KB", 1_000_000: "1 MB"}.get(
            size, f"{size} B"
        )
        rows.append(
            Row(
                f"size-{size}",
                (
                    Figure(f"{label} bodies: publish (MB/s)", f"size {size}: publish*"),
                    Figure(f"{label} bodies: consume (MB/s)", f"size {size}: consume*"),
                ),
                _scale("sizes", size),
                _sizeSeconds(size),
                runs="slow_runs",
            )
        )
    return rows


ROWS = _rows()
_GROUPS = {
    "all": [r.name for r in ROWS],
    "throughput": ["pubsub", "combined", "single", "pub", "memq0"],
    "scale": [
        r.name for r in ROWS if r.name.split("-")[0] in ("topics", "consumers", "size")
    ],
}


def selectRows(text: str, rows: Sequence[Row] = ROWS) -> list[Row]:
    """
    The rows C{--rows} names (row names, or C{all}, C{throughput},
    C{scale}), in table order, without repeats.

    @raise argparse.ArgumentTypeError: for a name that is no row.
    """
    known = {r.name for r in rows}
    wanted: set[str] = set()
    for name in (n.strip() for n in text.split(",")):
        if name in _GROUPS:
            wanted.update(_GROUPS[name])
        elif name in known:
            wanted.add(name)
        else:
            choices = ", ".join([*_GROUPS, *(r.name for r in rows)])
            raise argparse.ArgumentTypeError(
                f"unknown row {name!r}; choose from {choices}"
            )
    return [r for r in rows if r.name in wanted]


def schedule(
    rows: Sequence[Row], targets: Sequence[Target], counts: Mapping[str, int]
) -> Iterator[tuple[Row, int, int, Target]]:
    """
    What runs in which order: each row in turn, its runs one after another,
    within a run every target (C{(row, run, runs of the row, target)}).
    """
    for row in rows:
        count = counts[row.runs]
        for index in range(count):
            for target in targets:
                yield row, index, count, target


def estimate(
    rows: Sequence[Row],
    targets: Sequence[Target],
    counts: Mapping[str, int],
    ns: argparse.Namespace,
) -> float:
    """
    Expected seconds for the whole schedule (on a quiet machine).
    """
    return sum(row.seconds(ns) for row, _, _, _ in schedule(rows, targets, counts))


def formatValue(value: float) -> str:
    """
    C{339,807}, C{68.1} or C{0.36}: digits enough to compare.
    """
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(values: Sequence[float], go: Sequence[float], planned: int) -> str:
    """
    A target's median, its ratio to Go's median in brackets, and how many
    runs it rests on when some failed.
    """
    if not values:
        return "\u2013"
    median = statistics.median(values)
    text = formatValue(median)
    if go and statistics.median(go):
        text += f" ({median / statistics.median(go):.2f})"
    if len(values) < planned:
        text += f" [{len(values)} of {planned} runs]"
    return text


@dataclass
class Table:
    """
    Every run's figure, by table line and target; the 1-minute load seen
    before each run of each row.
    """

    targets: list[str]
    lines: dict[str, dict[str, list[float]]]
    under: dict[str, float]
    planned: dict[str, int]
    loads: dict[str, list[float]]
    # Table line -> the row it belongs to (for runs and load).
    rowOf: dict[str, str]

    @classmethod
    def empty(cls, targets: Sequence[str]) -> Table:
        """
        A table with no figures yet.
        """
        return cls(list(targets), {}, {}, {}, {}, {})

    def plan(self, row: Row, runs: int, ns: argparse.Namespace) -> None:
        """
        Lay out a row's lines in table order before it runs.
        """
        self.planned[row.name] = runs
        for figure in row.figures:
            label = figure.label.format(**vars(ns))
            self.lines.setdefault(label, {t: [] for t in self.targets})
            self.rowOf[label] = row.name
            if figure.under is not None:
                self.under[label] = figure.under

    def record(
        self, row: Row, target: str, measured: dict[str, float], ns: argparse.Namespace
    ) -> list[str]:
        """
        File one run's figures; the figures it did not find.
        """
        missing = []
        for figure in row.figures:
            label = figure.label.format(**vars(ns))
            found = [
                v for k, v in measured.items() if fnmatch.fnmatchcase(k, figure.key)
            ]
            if found:
                self.lines[label][target].append(found[0])
            else:
                missing.append(label)
        return missing

    def markdown(self) -> str:
        """
        The table: one line per figure, Go first, ratios to Go.
        """
        go = self.targets[0]
        head = ["row", go, *(f"{t} (ratio)" for t in self.targets[1:]), "runs", "load"]
        out = [
            "| " + " | ".join(head) + " |",
            "| --- " + "| ---: " * len(self.targets) + "| ---: | --- |",
        ]
        for label, byTarget in self.lines.items():
            row = self.rowOf[label]
            planned = self.planned[row]
            cells = [cell(byTarget[go], [], planned)]
            cells += [
                cell(byTarget[t], byTarget[go], planned) for t in self.targets[1:]
            ]
            out.append(
                f"| {label} | "
                + " | ".join(cells)
                + f" | {planned} | {_range(self.loads.get(row, []))} |"
            )
            if label in self.under:
                limit = self.under[label]
                counts = [
                    f"{sum(v < limit for v in byTarget[t])} of {len(byTarget[t])}"
                    for t in self.targets
                ]
                name = label.split(" at ")[0]
                out.append(
                    f"| runs with {name} < {limit:g} ms | "
                    + " | ".join(counts)
                    + " | | |"
                )
        return "\n".join(out)


def _range(values: Sequence[float]) -> str:
    if not values:
        return ""
    return f"{min(values):.1f}\u2013{max(values):.1f}"


@contextmanager
def environment(changes: dict[str, str]) -> Iterator[None]:
    """
    Set environment variables (inherited by the daemons started) for a while.
    """
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def parseArguments(
    argv: Sequence[str] | None,
) -> tuple[argparse.Namespace, argparse.Namespace]:
    """
    This script's options, and C{run.py}'s options (with what is left over).
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--go-bin",
        required=True,
        metavar="DIR",
        help="Go NSQ 1.3.0's nsqd, bench_writer and bench_reader",
    )
    parser.add_argument(
        "--pypy",
        metavar="PYTHON",
        help="a PyPy with txnsq's dependencies (no PyPy column without it)",
    )
    parser.add_argument(
        "--rows",
        type=selectRows,
        default=ROWS,
        help="comma-separated rows or groups (all, throughput, scale); default all",
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--slow-runs",
        type=int,
        default=3,
        help="runs of the memory, idle and scale rows (but 1,000 topics)",
    )
    parser.add_argument(
        "--heavy-runs",
        type=int,
        default=1,
        help="runs of the 1,000-topic row (minutes to set up per run)",
    )
    parser.add_argument("--runfor", type=nsqbench.parseDuration, default=5.0)
    parser.add_argument("--latency-runfor", type=nsqbench.parseDuration, default=10.0)
    parser.add_argument(
        "--messages", type=int, default=200_000, help="scale: messages per case"
    )
    parser.add_argument(
        "--bytes", type=int, default=200_000_000, help="scale sizes: bytes of bodies"
    )
    parser.add_argument("--markdown", metavar="FILE", help="also write the table here")
    parser.add_argument(
        "--json", metavar="FILE", help="also write every run's figure here"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would run, and its expected duration",
    )
    args, rest = parser.parse_known_args(argv)
    ns = run.buildParser().parse_args(rest)
    ns.runfor = args.runfor
    ns.latency_runfor = args.latency_runfor
    ns.messages = args.messages
    ns.bytes = args.bytes
    ns.go_bench = os.path.abspath(args.go_bin)
    return args, ns


def targets(args: argparse.Namespace) -> list[Target]:
    """
    Go nsqd, txnsq on this interpreter, and on C{--pypy} if given.
    """
    out = [
        Target(
            "Go nsqd",
            {
                "target": "go",
                "go_nsqd": os.path.join(os.path.abspath(args.go_bin), "nsqd"),
            },
            {},
        ),
        Target("txnsq CPython", {"target": "nsqd", "python": sys.executable}, {}),
    ]
    if args.pypy:
        out.append(
            Target(
                "txnsq PyPy",
                {"target": "nsqd", "python": os.path.abspath(args.pypy)},
                {"PYPY_GC_NURSERY": "16MB"},
            )
        )
    return out


def runCounts(args: argparse.Namespace) -> dict[str, int]:
    """
    How many runs each kind of row gets (L{Row.runs} names the kind).
    """
    return {
        "runs": args.runs,
        "slow_runs": args.slow_runs,
        "heavy_runs": args.heavy_runs,
    }


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds:.0f} s"


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run the table (or list it with C{--dry-run}) and print it.
    """
    args, ns = parseArguments(argv)
    chosen = targets(args)
    rows: list[Row] = args.rows
    counts = runCounts(args)
    total = estimate(rows, chosen, counts, ns)
    print(
        f"{len(rows)} rows x {len(chosen)} targets; expected duration ~{_minutes(total)} on a quiet machine",
        flush=True,
    )
    if args.dry_run:
        for row in rows:
            runs = counts[row.runs]
            seconds = row.seconds(ns)
            names = ", ".join(t.name for t in chosen)
            print(
                f"  {row.name}: {runs} runs x ({names}), ~{seconds:.0f} s each, ~{_minutes(seconds * runs * len(chosen))}"
            )
        return
    nsqbench.raiseFileLimit(max(1000, ns.idle_connections + 200))
    runtimes = [f"Go nsqd ({run._goVersion(chosen[0].options['go_nsqd'])})"]
    runtimes += [
        f"{t.name.split()[1]}: {run.describeRuntime(t.options['python'])}"
        for t in chosen[1:]
    ]
    startedAt = datetime.datetime.now(datetime.timezone.utc)
    startLoad = _uptime()
    started = time.monotonic()
    table = Table.empty([t.name for t in chosen])
    notes: list[str] = []
    try:
        for row, index, count, target in schedule(rows, chosen, counts):
            if index == 0 and target is chosen[0]:
                table.plan(row, count, ns)
            if target is chosen[0]:
                table.loads.setdefault(row.name, []).append(os.getloadavg()[0])
            print(f"{row.name} run {index + 1}/{count}: {target.name}", flush=True)
            began = time.monotonic()
            with environment(target.env):
                try:
                    measured = row.measure(_with(ns, **target.options))
                except Exception as e:
                    traceback.print_exc()
                    notes.append(
                        f"{row.name} run {index + 1}, {target.name}: failed ({e})"
                    )
                    continue
            took = time.monotonic() - began
            print(
                f"  took {took:.1f} s (expected ~{row.seconds(ns):.0f} s)", flush=True
            )
            for label in table.record(row, target.name, measured, ns):
                notes.append(
                    f"{row.name} run {index + 1}, {target.name}: no figure for {label}"
                )
    except KeyboardInterrupt:
        notes.append("interrupted: the table is partial")
    elapsed = time.monotonic() - started
    loads = [x for values in table.loads.values() for x in values]
    header = [
        f"Commit {run.describeCommit()}, {startedAt:%Y-%m-%d %H:%M} UTC, {_minutes(elapsed)} "
        f"(expected {_minutes(total)}); {'; '.join(runtimes)}"
        + ("; PyPy with PYPY_GC_NURSERY=16MB" if args.pypy else "")
        + f"; {os.cpu_count()} CPUs.",
        f"Medians; ratio = txnsq / Go; runs of {args.runfor:g} s (latency {args.latency_runfor:g} s), "
        "targets interleaved run by run; load generator: Go's bench_writer/bench_reader "
        "for MPUB publish and consume rows, nsqbench for the rest.",
        f"Load at start: {startLoad}; at end: {_uptime()}; 1-minute load before each run "
        f"{_range(loads)} (per row in the last column).",
    ]
    text = "\n".join(header) + "\n\n" + table.markdown() + "\n"
    if notes:
        text += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    print()
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"header": header, "figures": table.lines, "notes": notes}, f, indent=2
            )


if __name__ == "__main__":
    main()
