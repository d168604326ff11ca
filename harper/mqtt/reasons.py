# -*- test-case-name: tests.mqtt.test_broker -*-
"""
The one place where harper's errors become MQTT reason codes: the outcome of a publish
(PUBACK and PUBREC) and of a subscription (SUBACK).
"""

from __future__ import annotations

from typing import Optional

import attr

from harper.errors import (
    Forbidden,
    HarperError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    ValidationError,
)
from harper.mqtt.packets import ReasonCode
from harper.pubsub.payloads import UnsupportedContentType


@attr.frozen
class Outcome:
    """
    How a request of the client ended.

    :ivar code: a L{ReasonCode} (0 for success).
    :ivar reason: a reason string for the client, or C{None}.
    """

    code: int = ReasonCode.SUCCESS
    reason: Optional[str] = None

    @property
    def failed(self) -> bool:
        """
        Whether the code is a failure (0x80 or more).
        """
        return self.code >= 0x80


#: The outcome of a request that succeeded.
SUCCESS = Outcome()

#: The most specific reason code for each kind of error, most specific class first.
_CODES: tuple[tuple[type, ReasonCode], ...] = (
    (Unauthorized, ReasonCode.NOT_AUTHORIZED),
    (Forbidden, ReasonCode.NOT_AUTHORIZED),
    (UnsupportedContentType, ReasonCode.PAYLOAD_FORMAT_INVALID),
    (ValidationError, ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR),
    (MethodNotAllowed, ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR),
    (NotFound, ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR),
    (InvalidInput, ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR),
)


def outcome_for(error: BaseException) -> Outcome:
    """
    The outcome to report for C{error}: a harper error's code and message; anything else is an
    unspecified error whose details stay in the log.
    """
    if isinstance(error, HarperError):
        for kind, code in _CODES:
            if isinstance(error, kind):
                return Outcome(code, str(error))
        return Outcome(ReasonCode.UNSPECIFIED_ERROR, str(error))
    return Outcome(ReasonCode.UNSPECIFIED_ERROR, "the server could not process the message")


def payload_invalid(message: str) -> Outcome:
    """
    The outcome of a payload that cannot be read: not UTF-8 while its Payload Format
    Indicator says so (MQTT 5 section 3.3.2.3.2), or not valid in its content type.
    """
    return Outcome(ReasonCode.PAYLOAD_FORMAT_INVALID, message)
