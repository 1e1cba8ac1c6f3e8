"""
Tests for the pure parts of C{bench/table.py}: row selection, the order
runs happen in, the duration estimate, medians, ratios and the table's
text.  (Nothing here starts a daemon or times anything.)
"""

from __future__ import annotations

import argparse
import os
import sys

from twisted.trial.unittest import SynchronousTestCase

sys.path.insert(
    0,
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"),
)

import table
from table import Figure, Row, Table, Target


def _row(name: str, *figures: Figure, runs: str = "runs", seconds: float = 1.0) -> Row:
    return Row(name, figures, lambda ns: {}, lambda ns: seconds, runs)


_TARGETS = [Target("Go", {}, {}), Target("CPython", {}, {}), Target("PyPy", {}, {})]


class SelectRowsTests(SynchronousTestCase):
    """
    L{table.selectRows} reads C{--rows}.
    """

    def test_tableOrder(self) -> None:
        """
        Rows come back in table order whatever order they are named in,
        once each.
        """
        rows = table.selectRows("latency,pubsub,latency")
        self.assertEqual([r.name for r in rows], ["pubsub", "latency"])

    def test_groups(self) -> None:
        """
        C{all} is every row; C{scale} the nine cases of C{scale.py};
        C{throughput} run.py's table phases.
        """
        self.assertEqual(table.selectRows("all"), table.ROWS)
        self.assertEqual(
            [r.name for r in table.selectRows("scale")],
            [
                "topics-1",
                "topics-100",
                "topics-1000",
                "consumers-1",
                "consumers-10",
                "consumers-100",
                "size-200",
                "size-10000",
                "size-1000000",
            ],
        )
        self.assertEqual(
            [r.name for r in table.selectRows("throughput,idle")],
            ["pubsub", "combined", "single", "pub", "memq0", "idle"],
        )

    def test_unknown(self) -> None:
        """
        A name that is no row is refused, and the error lists the choices.
        """
        with self.assertRaises(argparse.ArgumentTypeError) as caught:
            table.selectRows("pubsub,nonesuch")
        self.assertIn("'nonesuch'", str(caught.exception))
        self.assertIn("topics-1000", str(caught.exception))


class ScheduleTests(SynchronousTestCase):
    """
    L{table.schedule} interleaves the targets run by run.
    """

    def test_interleaved(self) -> None:
        """
        Each row's runs follow one another, and within a run every target
        in turn; each row runs as many times as its kind of row says.
        """
        a, b = _row("a"), _row("b", runs="slow_runs")
        order = [
            (row.name, index, count, target.name)
            for row, index, count, target in table.schedule(
                [a, b], _TARGETS[:2], {"runs": 2, "slow_runs": 1}
            )
        ]
        self.assertEqual(
            order,
            [
                ("a", 0, 2, "Go"),
                ("a", 0, 2, "CPython"),
                ("a", 1, 2, "Go"),
                ("a", 1, 2, "CPython"),
                ("b", 0, 1, "Go"),
                ("b", 0, 1, "CPython"),
            ],
        )

    def test_estimate(self) -> None:
        """
        The estimate adds each row's seconds once per run per target.
        """
        rows = [_row("a", seconds=10.0), _row("b", runs="slow_runs", seconds=100.0)]
        ns = argparse.Namespace()
        self.assertEqual(
            table.estimate(rows, _TARGETS, {"runs": 5, "slow_runs": 3}, ns),
            3 * (5 * 10 + 3 * 100),
        )

    def test_defaultEstimate(self) -> None:
        """
        Every default row has an estimate from the default options, and
        the whole table is expected within 45 minutes.
        """
        args, ns = table.parseArguments(["--go-bin", "/nonexistent", "--pypy", "pypy3"])
        total = table.estimate(
            args.rows, table.targets(args), table.runCounts(args), ns
        )
        self.assertGreater(total, 0)
        self.assertLessEqual(total, 45 * 60)


class ArgumentsTests(SynchronousTestCase):
    """
    L{table.parseArguments} keeps its own options and passes the rest to
    C{run.py}'s parser.
    """

    def test_passthrough(self) -> None:
        """
        Options of C{run.py} reach the namespace the phases get, with this
        script's C{--runfor}.
        """
        args, ns = table.parseArguments(
            ["--go-bin", "/go", "--runfor", "2s", "--queued", "1000", "--hold", "1s"]
        )
        self.assertEqual(
            table.runCounts(args), {"runs": 5, "slow_runs": 3, "heavy_runs": 1}
        )
        self.assertIsNone(args.pypy)
        self.assertEqual(
            (ns.runfor, ns.queued, ns.hold, ns.go_bench), (2.0, 1000, 1.0, "/go")
        )

    def test_targets(self) -> None:
        """
        Go nsqd first, this interpreter, then PyPy with its nursery size.
        """
        args, _ = table.parseArguments(["--go-bin", "/go", "--pypy", "/p/python"])
        chosen = table.targets(args)
        self.assertEqual(
            [t.name for t in chosen], ["Go nsqd", "txnsq CPython", "txnsq PyPy"]
        )
        self.assertEqual(chosen[0].options, {"target": "go", "go_nsqd": "/go/nsqd"})
        self.assertEqual(chosen[1].options["python"], sys.executable)
        self.assertEqual(chosen[2].env, {"PYPY_GC_NURSERY": "16MB"})

    def test_environment(self) -> None:
        """
        L{table.environment} sets variables for a while and restores them.
        """
        name = "TXNSQ_TABLE_TEST"
        self.assertNotIn(name, os.environ)
        with table.environment({name: "1"}):
            self.assertEqual(os.environ[name], "1")
        self.assertNotIn(name, os.environ)


class FormatTests(SynchronousTestCase):
    """
    Medians, ratios and the table's text.
    """

    def test_formatValue(self) -> None:
        """
        Large figures get thousands separators, small ones decimals.
        """
        self.assertEqual(
            [table.formatValue(v) for v in (339_807.4, 68.12, 0.364)],
            ["339,807", "68.1", "0.36"],
        )

    def test_cell(self) -> None:
        """
        A cell is the median with its ratio to Go's median, and says how
        many runs it rests on when some failed.
        """
        self.assertEqual(table.cell([1.0, 3.0, 2.0], [], 3), "2.00")
        self.assertEqual(
            table.cell([300.0, 100.0, 200.0], [100.0, 100.0, 400.0], 3), "200 (2.00)"
        )
        self.assertEqual(table.cell([50.0], [100.0], 3), "50.0 (0.50) [1 of 3 runs]")
        self.assertEqual(table.cell([], [100.0], 3), "\u2013")

    def test_markdown(self) -> None:
        """
        One line per figure with the row's runs and load; a figure with a
        threshold gets a line counting the runs under it; figures found by
        pattern, labels formatted with the options.
        """
        row = _row(
            "lat",
            Figure("p50 at {rate:,.0f} msg/s (ms)", "latency p50 *"),
            Figure("p99 at {rate:,.0f} msg/s (ms)", "latency p99 *", under=2.0),
        )
        ns = argparse.Namespace(rate=10000.0)
        t = Table.empty(["Go", "CPython"])
        t.plan(row, 2, ns)
        t.loads["lat"] = [1.25, 2.5]
        for target, p50, p99 in (("Go", 4.0, 7.0), ("CPython", 1.0, 1.5)):
            measured = {
                "latency p50 at 10000 msg/s (ms)": p50,
                "latency p99 at 10000 msg/s (ms)": p99,
            }
            self.assertEqual(t.record(row, target, measured, ns), [])
        missing = t.record(row, "CPython", {"latency p50 at 10000 msg/s (ms)": 3.0}, ns)
        self.assertEqual(missing, ["p99 at 10,000 msg/s (ms)"])
        self.assertEqual(
            t.markdown(),
            "\n".join(
                [
                    "| row | Go | CPython (ratio) | runs | load |",
                    "| --- | ---: | ---: | ---: | --- |",
                    "| p50 at 10,000 msg/s (ms) | 4.00 [1 of 2 runs] | 2.00 (0.50) | 2 | 1.2\u20132.5 |",
                    "| p99 at 10,000 msg/s (ms) | 7.00 [1 of 2 runs] | 1.50 (0.21) [1 of 2 runs] | 2 | 1.2\u20132.5 |",
                    "| runs with p99 < 2 ms | 0 of 1 | 1 of 1 | | |",
                ]
            ),
        )
