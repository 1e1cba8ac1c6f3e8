"""
A pynsq Reader that finds its nsqds through nsqlookupd only, run as a
child process by C{tests.integration.test_cluster} and
C{tests.integration.test_twistd_nsq} (Tornado's loop must not share a
process with trial's reactor).

  lookupd_consumer.py --lookupd HOST:PORT [--lookupd ...] --topic T
                      --channel C --count N [--poll-interval SECONDS]
                      [--max-in-flight K] [--timeout S]

The Reader gets only C{lookupd_http_addresses} (no nsqd address).  Every
line on stdout is one JSON object with an C{"event"} key: C{connecting}
(C{address}) each time the Reader opens a connection to an nsqd it
discovered, C{subscribed} (C{address}) once that nsqd acknowledged SUB,
C{message} (C{body}, C{attempts}, C{address}) per delivery (each is
finished at once), C{exit} (C{code}) last.  It exits 0 once N messages
arrived, 2 if C{--timeout} ran out first.  pynsq's own logging goes to
stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

import nsq
from nsq import event as nsqEvent


def emit(kind: str, **fields: Any) -> None:
    """
    Print one event line.
    """
    print(json.dumps({"event": kind, **fields}), flush=True)


async def consume(args: argparse.Namespace) -> int:
    """
    Run one lookupd-discovering Reader until C{args.count} messages came.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    received = 0

    def handler(message: nsq.Message) -> bool:
        nonlocal received
        conn = getattr(message, "_lookupdConsumerConn", None)
        emit(
            "message",
            body=message.body.decode("utf-8", "replace"),
            attempts=message.attempts,
            address=conn,
        )
        received += 1
        if received >= args.count and not done.done():
            done.set_result(0)
        return True

    class DiscoveringReader(nsq.Reader):  # type: ignore[misc]
        def connect_to_nsqd(self, host: str, port: int) -> Any:
            address = f"{host}:{port}"
            known = address in self.conns
            conn = super().connect_to_nsqd(host, port)
            if conn is not None and not known:
                emit("connecting", address=address)
                subscribed = False

                def onResponse(conn: Any, data: bytes, **kwargs: Any) -> None:
                    nonlocal subscribed
                    # The first response after IDENTIFY is SUB's OK.
                    if not subscribed and data == b"OK":
                        subscribed = True
                        emit("subscribed", address=address)

                conn.on(nsqEvent.RESPONSE, onResponse)
            return conn

        def _on_message(self, conn: Any, message: Any, **kwargs: Any) -> Any:
            message._lookupdConsumerConn = f"{conn.host}:{conn.port}"
            return super()._on_message(conn, message, **kwargs)

    reader = DiscoveringReader(
        topic=args.topic,
        channel=args.channel,
        message_handler=handler,
        lookupd_http_addresses=args.lookupd,
        lookupd_poll_interval=args.poll_interval,
        # No random delay before the periodic lookups start.
        lookupd_poll_jitter=0.0,
        max_in_flight=args.max_in_flight,
        max_tries=0,
    )
    code = await done
    reader.close()
    return code


def main(argv: list[str]) -> int:
    """
    Parse C{argv}, consume on Tornado's (asyncio) loop, return the exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lookupd", action="append", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--poll-interval", type=int, default=1)
    parser.add_argument("--max-in-flight", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)

    async def bounded() -> int:
        try:
            return await asyncio.wait_for(consume(args), args.timeout)
        except TimeoutError:
            emit("timeout", seconds=args.timeout)
            return 2

    code = asyncio.run(bounded())
    emit("exit", code=code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
