# -*- test-case-name: tests.tools.test_nsq_to_nsq -*-
"""
C{nsq_to_nsq}'s JSON filters, as Go NSQ 1.3.0 applies them
(C{--require-json-field}, C{--require-json-value},
C{--whitelist-json-field}).

When any filter is set, each message body is decoded as a JSON object the
way Go's C{json.Unmarshal} into a C{map[string]interface{}} decodes it
(numbers become float64, C{null} is an empty object); then:

  - a body that is not a JSON object is logged and dropped (FINed, not
    republished);
  - with C{--require-json-field}, a message without the field is dropped;
    with C{--require-json-value} too, it is requeued instead, with
    backoff (Go logs C{missing field to check required value}), and a
    message whose field does not equal the value is dropped.  A string
    field is compared as text; if the value parses as a number, a number
    field is compared as float64; any other field never equals;
  - with C{--whitelist-json-field}, the message republished is a new
    object of those fields only (absent ones left out), encoded as Go
    encodes a map: keys sorted, whole numbers without a fraction, C{<>&}
    escaped.

Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from txnsq._go.json import UnsupportedValueError, encodeJSON
from txnsq._go.values import NumError, parseFloat

__all__ = ["BACKOFF", "DROP", "PASS", "FilterResult", "JSONFilter"]

#: Republish the (possibly rewritten) body.
PASS = "pass"
#: FIN the message without republishing it.
DROP = "drop"
#: REQ the message, counting a failure for backoff.
BACKOFF = "backoff"

_INT64 = 1 << 63


@attrs.frozen
class FilterResult:
    """
    What to do with one message.

    @ivar action: L{PASS}, L{DROP} or L{BACKOFF}.
    @ivar body: the body to republish (for L{PASS}).
    @ivar error: what Go logs about it, if anything.
    """

    action: str
    body: bytes = b""
    error: str | None = None


def _rejectConstant(name: str) -> Any:
    # Go's decoder knows no NaN or Infinity.
    raise ValueError(f"invalid character in {name}")


def decodeObject(body: bytes) -> dict[str, Any]:
    """
    Decode C{body} as Go's C{json.Unmarshal} into a
    C{map[string]interface{}}: every number a float.

    @raise ValueError: if it is not a JSON object (or C{null}).
    """
    value = json.loads(
        body.decode("utf-8", "replace"),
        parse_int=float,
        parse_constant=_rejectConstant,
    )
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"cannot unmarshal {type(value).__name__} into a map")
    return value


def _goMap(value: Any) -> Any:
    # Go encodes maps with their keys sorted.
    if isinstance(value, dict):
        return {key: _goMap(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_goMap(item) for item in value]
    return value


class JSONFilter:
    """
    The filters of one C{nsq_to_nsq}.
    """

    def __init__(
        self,
        requireField: str = "",
        requireValue: str = "",
        whitelist: Sequence[str] = (),
    ) -> None:
        """
        @param requireField: C{--require-json-field} (empty: none).
        @param requireValue: C{--require-json-value} (empty: none).
        @param whitelist: the C{--whitelist-json-field}s.
        """
        self.requireField = requireField
        self.requireValue = requireValue
        self.whitelist = list(whitelist)
        self._number: float | None = None
        if requireValue:
            try:
                self._number = parseFloat(requireValue)
            except NumError:
                self._number = None

    @property
    def active(self) -> bool:
        """
        Whether messages are decoded at all.
        """
        return bool(self.requireField or self.whitelist)

    def apply(self, body: bytes) -> FilterResult:
        """
        Decide what becomes of one message.
        """
        if not self.active:
            return FilterResult(PASS, body)
        try:
            decoded = decodeObject(body)
        except ValueError:
            return FilterResult(
                DROP,
                error="ERROR: Unable to decode json: "
                + body.decode("utf-8", "replace"),
            )
        passes, backoff = self._shouldPass(decoded)
        if not passes:
            if backoff:
                return FilterResult(
                    BACKOFF, error="ERROR: missing field to check required value"
                )
            return FilterResult(DROP)
        try:
            return FilterResult(PASS, self._whitelisted(decoded, body))
        except (UnsupportedValueError, TypeError) as e:
            return FilterResult(BACKOFF, error=f"ERROR: filterMessage() failed: {e}")

    def _shouldPass(self, decoded: dict[str, Any]) -> tuple[bool, bool]:
        """
        Go's C{shouldPassMessage}: C{(pass, backoff)}.
        """
        field = self.requireField
        if not field:
            return True, False
        if field not in decoded:
            return False, bool(self.requireValue)
        if not self.requireValue:
            return True, False
        value = decoded[field]
        if isinstance(value, str):
            return value == self.requireValue, False
        if self._number is not None:
            isNumber = isinstance(value, float)
            return isNumber and value == self._number, False
        return False, False

    def _whitelisted(self, decoded: dict[str, Any], body: bytes) -> bytes:
        """
        Go's C{filterMessage}: the whitelisted fields, re-encoded.
        """
        if not self.whitelist:
            return body
        kept: dict[str, Any] = {}
        for key in self.whitelist:
            if key in decoded:
                value = decoded[key]
                # Go prints whole float64s that fit an int64 as integers.
                if (
                    isinstance(value, float)
                    and value.is_integer()
                    and -_INT64 <= value < _INT64
                ):
                    kept[key] = int(value)
                else:
                    kept[key] = value
        return encodeJSON(_goMap(kept))
