# -*- test-case-name: tests.client.test_errors -*-
"""
Errors the client reports: L{NSQError} and its subclasses carry the code of
an nsqd error frame; the others describe what happened to a connection.
"""

from __future__ import annotations

from txnsq.wire import errors as _codes


class NSQError(Exception):
    """
    nsqd answered a command with an error frame (or the client refused to
    send a command that nsqd would have rejected, with the same code and
    text, so that one bad publish does not cost the connection).

    @ivar code: the C{E_*} code, e.g. C{"E_BAD_TOPIC"}.
    @ivar description: the text after the code.
    @ivar fatal: whether nsqd closes the connection after such an error;
        only C{E_FIN_FAILED}, C{E_REQ_FAILED} and C{E_TOUCH_FAILED} are not.
    """

    #: The codes this class stands for (used by L{errorFromFrame}).
    codes: frozenset[str] = frozenset()

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(code, description)
        self.code = code
        self.description = description
        self.fatal = code not in _codes.NON_FATAL_CODES

    def __str__(self) -> str:
        return f"{self.code} {self.description}" if self.description else self.code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.description!r})"


class NSQInvalid(NSQError):
    """
    C{E_INVALID}: a command nsqd cannot accept in this state or with these
    parameters.
    """

    codes = frozenset({_codes.E_INVALID})


class NSQBadProtocol(NSQError):
    """
    C{E_BAD_PROTOCOL}: nsqd did not recognise the protocol magic.
    """

    codes = frozenset({_codes.E_BAD_PROTOCOL})


class NSQBadBody(NSQError):
    """
    C{E_BAD_BODY}: an IDENTIFY, AUTH or MPUB body nsqd rejected.
    """

    codes = frozenset({_codes.E_BAD_BODY})


class NSQBadTopic(NSQError):
    """
    C{E_BAD_TOPIC}: an invalid topic name.
    """

    codes = frozenset({_codes.E_BAD_TOPIC})


class NSQBadChannel(NSQError):
    """
    C{E_BAD_CHANNEL}: an invalid channel name.
    """

    codes = frozenset({_codes.E_BAD_CHANNEL})


class NSQBadMessage(NSQError):
    """
    C{E_BAD_MESSAGE}: a message body that is empty or larger than nsqd's
    C{--max-msg-size}.
    """

    codes = frozenset({_codes.E_BAD_MESSAGE})


class NSQIdentifyFailed(NSQError):
    """
    C{E_IDENTIFY_FAILED}: nsqd could not apply the requested features.
    """

    codes = frozenset({_codes.E_IDENTIFY_FAILED})


class NSQAuthError(NSQError):
    """
    One of nsqd's authorisation errors (C{E_AUTH_DISABLED},
    C{E_AUTH_FAILED}, C{E_AUTH_FIRST}, C{E_AUTH_ERROR}, C{E_UNAUTHORIZED}).
    """

    codes = frozenset(
        {
            _codes.E_AUTH_DISABLED,
            _codes.E_AUTH_FAILED,
            _codes.E_AUTH_FIRST,
            _codes.E_AUTH_ERROR,
            _codes.E_UNAUTHORIZED,
        }
    )


class NSQSubscribeFailed(NSQError):
    """
    C{E_SUB_FAILED}: the channel is full or being deleted.
    """

    codes = frozenset({_codes.E_SUB_FAILED})


class NSQPublishFailed(NSQError):
    """
    C{E_PUB_FAILED}, C{E_MPUB_FAILED} or C{E_DPUB_FAILED}: nsqd could not
    queue the message (its topic is closing, or a disk write failed).
    """

    codes = frozenset({_codes.E_PUB_FAILED, _codes.E_MPUB_FAILED, _codes.E_DPUB_FAILED})


class NSQMessageNotInFlight(NSQError):
    """
    C{E_FIN_FAILED}, C{E_REQ_FAILED} or C{E_TOUCH_FAILED}: the message is no
    longer in flight on this connection, usually because it timed out and
    was delivered again.  Not fatal.
    """

    codes = frozenset({_codes.E_FIN_FAILED, _codes.E_REQ_FAILED, _codes.E_TOUCH_FAILED})


_BY_CODE: dict[str, type[NSQError]] = {
    code: cls
    for cls in (
        NSQInvalid,
        NSQBadProtocol,
        NSQBadBody,
        NSQBadTopic,
        NSQBadChannel,
        NSQBadMessage,
        NSQIdentifyFailed,
        NSQAuthError,
        NSQSubscribeFailed,
        NSQPublishFailed,
        NSQMessageNotInFlight,
    )
    for code in cls.codes
}


def makeError(code: str, description: str = "") -> NSQError:
    """
    The L{NSQError} subclass instance for C{code} (plain L{NSQError} for
    codes this client does not know).
    """
    return _BY_CODE.get(code, NSQError)(code, description)


def errorFromFrame(data: bytes) -> NSQError:
    """
    Parse an error frame's data, C{"<CODE> <description>"}.
    """
    text = data.decode("utf-8", "replace")
    code, _, description = text.partition(" ")
    return makeError(code, description)


class ConnectionClosed(Exception):
    """
    The connection to nsqd ended before nsqd answered; the command may or
    may not have been applied.

    @ivar reason: why the connection ended, when known.
    """

    def __init__(
        self, message: str = "connection to nsqd closed", reason: object = None
    ):
        super().__init__(message)
        self.reason = reason


class NotConnected(Exception):
    """
    There is no usable connection and the command was not queued (the
    client is stopping, or its queue of waiting commands is full).
    """


class PublishQueueFull(NotConnected):
    """
    No connection to nsqd is ready and the L{Producer}'s queue of waiting
    publishes already holds C{maxPending} entries.
    """


class ConnectFailed(NotConnected):
    """
    No nsqd could be reached: the last attempt to connect to (or to
    handshake with) every configured nsqd failed, so the publishes waiting
    for a connection fail at once rather than wait for the retries, as
    go-nsq's C{Publish} returns its dial error.  The producer keeps
    retrying in the background; later publishes wait for it again.

    @ivar reason: the L{Failure} of the last attempt.
    """

    def __init__(self, message: str, reason: object = None) -> None:
        super().__init__(message)
        self.reason = reason


class PublishTimeout(NotConnected):
    """
    A publish waited longer than the producer's C{timeout} for a
    connection to nsqd and was never sent.
    """


class UnexpectedResponse(Exception):
    """
    nsqd sent something the protocol does not allow at this point (a
    response nobody waited for, an unknown frame type); the connection is
    closed.
    """


class UnsupportedFeature(Exception):
    """
    nsqd agreed to a feature this client cannot speak yet (TLS, snappy or
    deflate).  See L{NSQClientProtocol.startUpgrade
    <txnsq.client.protocol.NSQClientProtocol.startUpgrade>}.
    """
