# -*- test-case-name: tests.client.test_asyncio -*-
"""
The C{async with} blocks of L{Producer} and L{Consumer}, written once for
the Twisted classes and their asyncio twins: a block only awaits what the
class's own C{connect()} and C{stop()} return, Deferreds in one and
asyncio futures in the other.
"""

from __future__ import annotations

from collections.abc import Awaitable
from types import TracebackType
from typing import TypeVar

__all__ = ["ConnectedBlock", "StartedBlock"]

_Connected = TypeVar("_Connected", bound="ConnectedBlock")
_Started = TypeVar("_Started", bound="StartedBlock")


class _Block:
    """
    The end of a block: stop gracefully.
    """

    def stop(self) -> Awaitable[None]:
        """
        Stop gracefully (subclasses).
        """
        raise NotImplementedError

    def _releaseHeld(self, failed: bool) -> None:
        # What to settle before stopping, told whether an exception ends
        # the block.
        pass

    async def __aexit__(
        self,
        excType: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """
        ... and stops it gracefully (see C{stop}) at the end of the block; a
        consumer first answers the messages its loops over C{messages} still
        hold: C{FIN}, or C{REQ} when an exception ends the block.
        """
        self._releaseHeld(failed=exc is not None)
        await self.stop()


class ConnectedBlock(_Block):
    """
    C{async with producer:} for a producer's C{connect()} and C{stop()}.
    """

    def connect(self) -> Awaitable[None]:
        """
        Wait for a connection (subclasses).
        """
        raise NotImplementedError

    async def __aenter__(self: _Connected) -> _Connected:
        """
        C{async with producer:} waits for a connection (see C{connect}),
        stopping the producer again if there is none ...
        """
        try:
            await self.connect()
        except BaseException:
            # Cancelled too: no connection attempts may outlive the block.
            await self.stop()
            raise
        return self


class StartedBlock(_Block):
    """
    C{async with consumer:} for a consumer's C{start()} and C{stop()}; at
    the end of the block the messages its loops over C{messages()} still
    hold are answered first (C{FIN}, or C{REQ} when an exception ends the
    block) by its C{_releaseHeld}.
    """

    def start(self) -> None:
        """
        Start (subclasses).
        """
        raise NotImplementedError

    async def __aenter__(self: _Started) -> _Started:
        """
        C{async with consumer:} starts the consumer ...
        """
        self.start()
        return self
