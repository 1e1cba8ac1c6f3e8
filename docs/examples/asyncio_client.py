"""
Publish and consume from an asyncio program with txnsq's client.

    python docs/examples/asyncio_client.py [HOST:PORT] [TOPIC] [COUNT]

Subscribes two channels of TOPIC (default C{events}) on the nsqd at
HOST:PORT (default C{127.0.0.1:4150}): C{archive}, read with C{async for},
and C{audit}, whose handler is an C{async def} function; publishes COUNT
messages (default 10); prints what each channel received and stops once
both have every message.  Nothing here needs Twisted: the futures are
asyncio's.
"""

from __future__ import annotations

import asyncio
import sys

from txnsq.client import Message
from txnsq.client.asyncio import Consumer, Producer


async def main(
    nsqdAddress: str = "127.0.0.1:4150", topic: str = "events", count: int = 10
) -> dict[str, list[bytes]]:
    """
    Publish C{count} messages and read them on both channels.

    @return: the bodies each channel received.
    """
    audited: list[bytes] = []
    allAudited = asyncio.Event()

    async def audit(message: Message) -> None:
        # A handler may await asyncio code; returning FINs the message,
        # raising REQs it.
        await asyncio.sleep(0)
        audited.append(message.body)
        if len(audited) == count:
            allAudited.set()

    auditor = Consumer(topic, "audit", audit, nsqdAddresses=[nsqdAddress])
    archive = Consumer(topic, "archive", nsqdAddresses=[nsqdAddress], maxInFlight=5)
    async with auditor, archive:
        # Both channels exist before publishing, so both get every message.
        await asyncio.gather(auditor.whenSubscribed(), archive.whenSubscribed())

        async with Producer([nsqdAddress]) as producer:
            bodies = [b"message %d" % i for i in range(count)]
            # Each publish is sent at once and returns an asyncio future.
            await producer.publish(topic, bodies[0])
            await asyncio.gather(
                producer.multiPublish(topic, bodies[1:]),
                producer.publish("other-topic", b"meanwhile"),
            )
        print(f"published {count} messages to {topic}")

        archived: list[bytes] = []
        # At most maxInFlight messages wait for the loop; each one is
        # finished when the loop moves on to the next.
        async for message in archive.messages():
            archived.append(message.body)
            print(f"archive: {message.body.decode()} (attempt {message.attempts})")
            if len(archived) == count:
                break
        await allAudited.wait()
        print(f"audit: {len(audited)} messages")
    # Leaving "async with" finished the last message and stopped both
    # consumers gracefully.
    return {"archive": archived, "audit": audited}


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(
            args[0] if len(args) > 0 else "127.0.0.1:4150",
            args[1] if len(args) > 1 else "events",
            int(args[2]) if len(args) > 2 else 10,
        )
    )
