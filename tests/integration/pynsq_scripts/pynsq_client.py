"""
pynsq (Tornado) publisher and consumer, run as a child process by
C{tests.integration.test_pynsq}: Tornado's loop must not share a process
with trial's reactor.

Every line on stdout is one JSON object with an C{"event"} key; pynsq's own
logging goes to stderr.  The process exits 0 when its work is done, 1 on a
client error and 2 when its own time limit (C{--timeout}) ran out.

  publish --nsqd HOST:PORT --topic T --ops JSON
      Connect a pynsq Writer, run each operation of the JSON list in order
      (C{["pub", body]}, C{["mpub", [body, ...]]},
      C{["dpub", delay_ms, body]}), waiting for each reply; print
      C{published} per reply.

  consume --nsqd HOST:PORT --topic T --channel C [--channel C2 ...]
          --count N [options]
      Start C{--readers} pynsq Readers per channel; print C{subscribed}
      once nsqd acknowledged each one's SUB, C{message} per delivery,
      C{heartbeat} per heartbeat, C{closed} if a connection drops; exit
      after N messages were finished (and C{--min-heartbeats} seen).
      Options: C{--readers R}, C{--max-in-flight K}, C{--msg-timeout-ms MS}
      (IDENTIFY msg_timeout), C{--heartbeat-interval SECONDS},
      C{--requeue-first-ms MS} (REQ first attempts with that delay),
      C{--ignore-first} (never answer first attempts), C{--hold} (each
      Reader holds its message until every Reader holds one).

  Connection options, for both commands: C{--tls} (IDENTIFY C{tls_v1}),
  C{--tls-ca FILE} (verify nsqd's certificate against this CA; without it
  the certificate is not checked), C{--tls-cert FILE --tls-key FILE} (a
  client certificate), C{--snappy}, C{--deflate}, C{--deflate-level N},
  C{--auth-secret S}.  Each connection prints C{identified} with the
  features nsqd agreed to, and C{authed} with nsqd's AUTH reply; a Writer
  that fails before it is ready prints C{error} and exits 1.

  The same commands and options as C{tests/js/publish.js} and
  C{tests/js/consume.js}, so one test drives either client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import ssl
import sys
import time
from typing import Any

import nsq
from nsq import event as nsqEvent


def emit(kind: str, **fields: Any) -> None:
    """
    Print one event line.
    """
    print(json.dumps({"event": kind, **fields}), flush=True)


def connectionOptions(args: argparse.Namespace) -> dict[str, Any]:
    """
    pynsq's connection keyword arguments for the TLS, compression and
    AUTH options.
    """
    options: dict[str, Any] = {}
    if args.tls:
        tlsOptions: dict[str, Any] = {"cert_reqs": ssl.CERT_NONE}
        if args.tls_ca:
            tlsOptions = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": args.tls_ca}
        if args.tls_cert:
            tlsOptions.update(certfile=args.tls_cert, keyfile=args.tls_key)
        options.update(tls_v1=True, tls_options=tlsOptions)
    if args.snappy:
        options["snappy"] = True
    if args.deflate:
        options["deflate"] = True
    if args.deflate_level is not None:
        options["deflate_level"] = args.deflate_level
    if args.auth_secret is not None:
        options["auth_secret"] = args.auth_secret
    return options


def emitIdentified(name: str, data: dict[str, Any]) -> None:
    """
    Print what nsqd agreed to in IDENTIFY for reader or writer C{name}.
    """
    features = ("tls_v1", "snappy", "deflate", "deflate_level", "auth_required")
    emit("identified", reader=name, **{k: data.get(k) for k in features})


def observe(conn: Any, name: str) -> None:
    """
    Print what nsqd agreed to in IDENTIFY, and its AUTH reply, for the
    connection C{conn} of reader C{name}.
    """

    def identified(conn: Any, data: dict[str, Any], **kwargs: Any) -> None:
        emitIdentified(name, data)

    def authed(conn: Any, data: Any, **kwargs: Any) -> None:
        emit("authed", reader=name, reply=data)

    conn.on(nsqEvent.IDENTIFY_RESPONSE, identified)
    conn.on(nsqEvent.AUTH_RESPONSE, authed)


def reply(data: Any) -> str:
    """
    A Writer callback's reply as text (C{"OK"} or the error).
    """
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)


async def publish(args: argparse.Namespace) -> int:
    """
    Run the C{publish} command.
    """
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    class ReadyWriter(nsq.Writer):  # type: ignore[misc]
        # Writer.connect_to_nsqd does not return its connection: observe
        # through the Writer's own handlers.
        def _on_connection_identify_response(
            self, conn: Any, data: dict[str, Any], **kwargs: Any
        ) -> None:
            emitIdentified("writer", data)
            super()._on_connection_identify_response(conn, data, **kwargs)

        def _on_connection_auth_response(
            self, conn: Any, data: Any, **kwargs: Any
        ) -> None:
            emit("authed", reader="writer", reply=data)
            super()._on_connection_auth_response(conn, data, **kwargs)

        def _on_connection_ready(self, conn: Any, **kwargs: Any) -> None:
            super()._on_connection_ready(conn, **kwargs)
            if not ready.done():
                ready.set_result(None)

        def _on_connection_error(self, conn: Any, error: Any, **kwargs: Any) -> None:
            super()._on_connection_error(conn, error, **kwargs)
            if not ready.done():
                # Refused before it could publish (TLS, AUTH): no retrying.
                emit("error", error=str(error))
                ready.set_exception(ConnectionError(str(error)))

    writer = ReadyWriter([args.nsqd], **connectionOptions(args))
    try:
        await ready
    except ConnectionError:
        return 1
    failed = 0
    for op in json.loads(args.ops):
        done: asyncio.Future[str] = loop.create_future()

        def callback(conn: Any, data: Any, done: asyncio.Future[str] = done) -> None:
            if not done.done():
                done.set_result(reply(data))

        command = op[0]
        if command == "pub":
            writer.pub(args.topic, op[1].encode(), callback=callback)
        elif command == "mpub":
            writer.mpub(args.topic, [b.encode() for b in op[1]], callback=callback)
        elif command == "dpub":
            writer.dpub(args.topic, op[1], op[2].encode(), callback=callback)
        else:
            raise ValueError(f"unknown operation {command!r}")
        result = await done
        emit("published", command=command.upper(), reply=result)
        if result != "OK":
            failed += 1
    for conn in list(writer.conns.values()):
        conn.close()
    return 1 if failed else 0


class Consumption:
    """
    The shared state of every Reader in a C{consume} run.
    """

    def __init__(self, args: argparse.Namespace, done: asyncio.Future[int]) -> None:
        self.args = args
        self.done = done
        self.finished = 0
        self.heartbeats: dict[str, int] = {}
        self.held: dict[str, nsq.Message] = {}
        self.readers: list[str] = []

    def checkDone(self) -> None:
        """
        Finish the run once enough messages were finished and every reader
        saw enough heartbeats.
        """
        args = self.args
        if self.done.done() or self.finished < args.count:
            return
        if any(self.heartbeats.get(r, 0) < args.min_heartbeats for r in self.readers):
            return
        self.done.set_result(0)

    def handle(self, reader: str, channel: str, message: nsq.Message) -> None:
        """
        Record a delivery and answer it as the options say.
        """
        args = self.args
        emit(
            "message",
            reader=reader,
            channel=channel,
            id=message.id.decode("ascii"),
            body=message.body.decode("utf-8", "replace"),
            attempts=message.attempts,
            timestamp=message.timestamp,
            received=time.time(),
        )
        message.enable_async()
        if message.attempts == 1 and args.ignore_first:
            # Never answered: nsqd must time it out and deliver it again.
            return
        if message.attempts == 1 and args.requeue_first_ms is not None:
            message.requeue(time_ms=args.requeue_first_ms, backoff=False)
            return
        if args.hold:
            self.held[reader] = message
            if len(self.held) == len(self.readers):
                # Every reader has one in flight: release them all.
                held, self.held = self.held, {}
                for one in held.values():
                    self.finish(one)
            return
        self.finish(message)

    def finish(self, message: nsq.Message) -> None:
        """
        FIN a message and count it.
        """
        message.finish()
        self.finished += 1
        self.checkDone()


async def consume(args: argparse.Namespace) -> int:
    """
    Run the C{consume} command.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    state = Consumption(args, done)

    def makeReader(name: str, channel: str) -> nsq.Reader:
        subscribed = False
        ready = False

        def onReady(conn: Any, **kwargs: Any) -> None:
            nonlocal ready
            ready = True

        def onResponse(conn: Any, data: bytes, **kwargs: Any) -> None:
            nonlocal subscribed
            # Once the connection is ready (upgrades and AUTH answered),
            # the Reader sends SUB: the next OK is SUB's.
            if ready and not subscribed and data == b"OK":
                subscribed = True
                emit("subscribed", reader=name, channel=channel)

        def onHeartbeat(conn: Any, **kwargs: Any) -> None:
            state.heartbeats[name] = state.heartbeats.get(name, 0) + 1
            emit("heartbeat", reader=name, count=state.heartbeats[name])
            state.checkDone()

        # Once done, the readers are closed on purpose: not worth a line.
        def onClose(conn: Any, **kwargs: Any) -> None:
            if not done.done():
                emit("closed", reader=name)

        def onError(conn: Any, error: Any, **kwargs: Any) -> None:
            if not done.done():
                emit("error", reader=name, error=str(error))

        class ObservedReader(nsq.Reader):  # type: ignore[misc]
            def connect_to_nsqd(self, host: str, port: int) -> Any:
                conn = super().connect_to_nsqd(host, port)
                if conn is not None:
                    observe(conn, name)
                    conn.on(nsqEvent.RESPONSE, onResponse)
                    conn.on(nsqEvent.READY, onReady)
                    conn.on(nsqEvent.HEARTBEAT, onHeartbeat)
                    conn.on(nsqEvent.CLOSE, onClose)
                    conn.on(nsqEvent.ERROR, onError)
                return conn

        kwargs: dict[str, Any] = connectionOptions(args)
        if args.msg_timeout_ms is not None:
            # pynsq takes seconds and sends milliseconds.
            kwargs["msg_timeout"] = args.msg_timeout_ms / 1000
        if args.heartbeat_interval is not None:
            kwargs["heartbeat_interval"] = args.heartbeat_interval
        return ObservedReader(
            topic=args.topic,
            channel=channel,
            message_handler=lambda message: state.handle(name, channel, message),
            nsqd_tcp_addresses=[args.nsqd],
            max_in_flight=args.max_in_flight,
            max_tries=0,
            name=name,
            **kwargs,
        )

    readers = []
    for channel in args.channel:
        for index in range(args.readers):
            name = f"{channel}/{index}"
            state.readers.append(name)
            readers.append(makeReader(name, channel))
    code = await done
    for reader in readers:
        reader.close()
    return code


def main(argv: list[str]) -> int:
    """
    Parse C{argv}, run the command on Tornado's (asyncio) loop and return
    the exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser("publish")
    pub.add_argument("--ops", required=True)
    con = sub.add_parser("consume")
    con.add_argument("--channel", action="append", required=True)
    con.add_argument("--count", type=int, required=True)
    con.add_argument("--readers", type=int, default=1)
    con.add_argument("--max-in-flight", type=int, default=10)
    con.add_argument("--msg-timeout-ms", type=int, default=None)
    con.add_argument("--heartbeat-interval", type=int, default=None)
    con.add_argument("--min-heartbeats", type=int, default=0)
    con.add_argument("--requeue-first-ms", type=int, default=None)
    con.add_argument("--ignore-first", action="store_true")
    con.add_argument("--hold", action="store_true")
    for p in (pub, con):
        p.add_argument("--nsqd", required=True)
        p.add_argument("--topic", required=True)
        p.add_argument("--timeout", type=float, default=30.0)
        p.add_argument("--tls", action="store_true")
        p.add_argument("--tls-ca", default=None)
        p.add_argument("--tls-cert", default=None)
        p.add_argument("--tls-key", default=None)
        p.add_argument("--snappy", action="store_true")
        p.add_argument("--deflate", action="store_true")
        p.add_argument("--deflate-level", type=int, default=None)
        p.add_argument("--auth-secret", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    run = publish if args.command == "publish" else consume

    async def bounded() -> int:
        try:
            return await asyncio.wait_for(run(args), args.timeout)
        except TimeoutError:
            emit("timeout", seconds=args.timeout)
            return 2

    code = asyncio.run(bounded())
    emit("exit", code=code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
