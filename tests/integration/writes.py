# -*- test-case-name: tests.integration.test_crash -*-
"""
The clients of the crash test and what they were told: HTTP writers that PUT records, MQTT
publishers that write records with retained QoS 1 PUBLISHes (paho-mqtt), and the L{Ledger}
of what each sent and what was acknowledged.

Every write carries a SHA-256 of its own attributes, so a record read back can be checked
for tearing, and a number unique in the test, so it can be matched to the write it came from.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any, Optional

import paho.mqtt.client as paho
import treq
from paho.mqtt.enums import CallbackAPIVersion
from twisted.internet import error, reactor
from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.internet.threads import deferToThread
from twisted.web.client import (
    HTTPConnectionPool,
    RequestNotSent,
    RequestTransmissionFailed,
    ResponseFailed,
    ResponseNeverReceived,
)

#: The records each writer or publisher keeps rewriting.
RECORDS_PER_CLIENT = 10

#: The breedId of the records of client 0 (client n uses this + n): not a breed of the example.
FIRST_BREED = 1000

#: Seconds any one step (start, request, acknowledgement, exit) may take.
DEADLINE = 30.0

#: The attributes a record's checksum covers.
CHECKED = ("name", "breedId", "age", "payload")

#: Ways a request ends when the daemon dies under it.
CUT_OFF = (
    error.ConnectError,
    error.ConnectionLost,
    error.ConnectionDone,
    ResponseFailed,
    ResponseNeverReceived,
    RequestNotSent,
    RequestTransmissionFailed,
    CancelledError,
)

#: The lowest MQTT 5 reason code that refuses a PUBLISH (MQTT 5 section 3.4.2.1).
REFUSED = 0x80


def checksum(record: dict[str, Any]) -> str:
    """
    The SHA-256 of the L{CHECKED} attributes of C{record}.
    """
    covered = json.dumps([record.get(name) for name in CHECKED]).encode("utf-8")
    return hashlib.sha256(covered).hexdigest()


def record_for(record_id: str, client: int, sequence: int) -> dict[str, Any]:
    """
    The body of write number C{sequence} (unique in the test) of C{record_id} by client
    C{client}: about 700 bytes, carrying its own checksum.
    """
    payload = hashlib.sha256(f"{record_id}/{sequence}".encode("ascii")).hexdigest() * 10
    body = {
        "name": f"{record_id}-s{sequence}",
        "breedId": FIRST_BREED + client,
        "age": sequence,
        "payload": payload,
    }
    body["check"] = checksum(body)
    return body


class Ledger:
    """
    What the clients of one transport sent and what was acknowledged, per record id.

    :ivar acknowledgements: how many writes were acknowledged in all.
    """

    def __init__(self) -> None:
        self._acknowledged: dict[str, int] = {}
        self._unanswered: dict[str, set[int]] = {}
        self._clients: dict[str, int] = {}
        self.acknowledgements = 0

    def sent(self, record_id: str, client: int, sequence: int) -> None:
        """
        Write C{sequence} of C{record_id} is being sent; its outcome is unknown.
        """
        self._clients[record_id] = client
        self._unanswered.setdefault(record_id, set()).add(sequence)

    def acknowledged(self, record_id: str, sequence: int) -> None:
        """
        Write C{sequence} of C{record_id} was acknowledged: it replaces every earlier one.
        """
        self._acknowledged[record_id] = sequence
        self._unanswered[record_id] = set()
        self.acknowledgements += 1

    def record_ids(self) -> list[str]:
        """
        Every record id written so far.
        """
        return sorted(self._clients)

    def client_of(self, record_id: str) -> int:
        """
        The client that writes C{record_id}.
        """
        return self._clients[record_id]

    def problem(self, record_id: str, record: Optional[dict[str, Any]]) -> Optional[str]:
        """
        What is wrong with C{record} (C{None} when absent) as the stored value of
        C{record_id}, or C{None} if it is one the writes allow.
        """
        acknowledged = self._acknowledged.get(record_id)
        if record is None:
            if acknowledged is None:
                return None
            return f"{record_id}: acknowledged write s{acknowledged} is missing"
        if checksum(record) != record.get("check"):
            return f"{record_id}: torn record (checksum mismatch): {record!r}"
        unanswered = sorted(self._unanswered[record_id])
        sequence = record.get("age")
        if sequence not in {acknowledged, *unanswered} - {None}:
            return (
                f"{record_id}: holds s{sequence}; acknowledged s{acknowledged}, "
                f"unanswered {unanswered}"
            )
        expected = record_for(record_id, self.client_of(record_id), sequence)
        if {name: record.get(name) for name in expected} != expected:
            return f"{record_id}: s{sequence} stored as {record!r}"
        return None


class Writer:
    """
    One client that writes its records in turn, each time with a new value.

    :param client: its number, from 0; its records are C{<prefix><client>-<n>}.
    :param sequence: the counter of write numbers shared by every client.
    :param ledger: where it notes what it sent and what was acknowledged.
    """

    #: The start of the ids of its records.
    prefix = "crash"

    def __init__(self, client: int, sequence: "itertools.count[int]", ledger: Ledger) -> None:
        self._client = client
        self._sequence = sequence
        self._ledger = ledger
        self._turn = itertools.cycle(range(RECORDS_PER_CLIENT))

    def next_write(self) -> tuple[str, int, bytes]:
        """
        The record id, write number and JSON body of the next write, noted as sent.
        """
        record_id = f"{self.prefix}{self._client}-{next(self._turn)}"
        sequence = next(self._sequence)
        body = json.dumps(record_for(record_id, self._client, sequence)).encode("utf-8")
        self._ledger.sent(record_id, self._client, sequence)
        return record_id, sequence, body


class HTTPWriter(Writer):
    """
    A writer that PUTs its records to C{/Dog/<id>}; a 2xx answer acknowledges a write.
    """

    async def write_until_cut_off(self, base: str, pool: HTTPConnectionPool) -> None:
        """
        PUT records until a request fails because the daemon is gone; raise
        C{AssertionError} if the daemon answers a PUT with anything but 2xx.
        """
        while True:
            record_id, sequence, body = self.next_write()
            try:
                response = await treq.put(
                    f"{base}/Dog/{record_id}", body, headers={"Content-Type": ["application/json"]},
                    pool=pool, timeout=DEADLINE,
                )
                content = await treq.content(response)
            except CUT_OFF:
                return
            if not 200 <= response.code < 300:
                raise AssertionError(f"PUT {record_id} answered {response.code}: {content[:300]!r}")
            self._ledger.acknowledged(record_id, sequence)


class MQTTConnection:
    """
    One MQTT 5 connection of a paho-mqtt client (clean start) that publishes retained QoS 1
    messages. paho's network loop runs in its own thread; its callbacks are handed to the
    reactor thread, where every method of this class runs.

    :param client_id: the MQTT client identifier.
    :param username: the user it logs in as.
    :param password: that user's password.
    """

    def __init__(self, client_id: str, username: str, password: str) -> None:
        self._paho = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                 protocol=paho.MQTTv5, reconnect_on_failure=False)
        self._paho.username_pw_set(username, password)
        self._paho.on_connect = self._from_network(self._connected)
        self._paho.on_publish = self._from_network(self._acknowledged)
        self._paho.on_disconnect = self._from_network(self._lost)
        self._connecting: Deferred[None] = Deferred()
        self._pending: dict[int, Deferred[int]] = {}
        self._ended = False

    @staticmethod
    def _from_network(method: Any) -> Any:
        # paho calls its callbacks with (client, userdata, ...) on its network thread.
        def call(client: Any, userdata: Any, *args: Any) -> None:
            reactor.callFromThread(method, *args)

        return call

    def connect(self, port: int) -> Deferred[None]:
        """
        Connect to 127.0.0.1:C{port}; fire once CONNACK accepted the connection, fail with
        C{AssertionError} if it refused it or the connection ended first.
        """
        self._paho.connect_async("127.0.0.1", port, clean_start=True)
        self._paho.loop_start()
        return self._connecting.addTimeout(DEADLINE, reactor)

    def publish(self, topic: str, payload: bytes) -> Deferred[int]:
        """
        Publish C{payload} to C{topic}, retained, at QoS 1; fire with the PUBACK's reason
        code, or fail with L{error.ConnectionLost} if the connection ends first.
        """
        if self._ended:
            return fail(error.ConnectionLost("the connection ended"))
        info = self._paho.publish(topic, payload, qos=1, retain=True)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            return fail(error.ConnectionLost(f"paho did not send it: {paho.error_string(info.rc)}"))
        d: Deferred[int] = Deferred()
        self._pending[info.mid] = d
        return d.addTimeout(DEADLINE, reactor)

    def _connected(self, flags: Any, reason: Any, properties: Any) -> None:
        if not self._connecting.called:
            if reason.is_failure:
                self._connecting.errback(AssertionError(f"CONNACK refused the connection: {reason}"))
            else:
                self._connecting.callback(None)

    def _acknowledged(self, mid: int, reason: Any, properties: Any) -> None:
        d = self._pending.pop(mid, None)
        if d is not None and not d.called:
            d.callback(int(reason.value))

    def _lost(self, flags: Any, reason: Any, properties: Any) -> None:
        self._ended = True
        if not self._connecting.called:
            self._connecting.errback(AssertionError(f"the connection ended before CONNACK: {reason}"))
        pending, self._pending = self._pending, {}
        for d in pending.values():
            if not d.called:
                d.errback(error.ConnectionLost(f"the connection ended: {reason}"))

    def close(self) -> Deferred[None]:
        """
        Disconnect if still connected and stop paho's network thread.
        """
        self._paho.disconnect()
        return deferToThread(self._paho.loop_stop)


class MQTTWriter(Writer):
    """
    A writer that publishes its records, retained at QoS 1, to the topic C{Dog/<id>}, one
    at a time; a PUBACK with a success reason code acknowledges a write.
    """

    prefix = "mqtt"

    async def write_until_cut_off(self, connection: MQTTConnection) -> None:
        """
        Publish records on C{connection} until it ends because the daemon is gone; raise
        C{AssertionError} if the broker refuses one.
        """
        while True:
            record_id, sequence, body = self.next_write()
            try:
                code = await connection.publish(f"Dog/{record_id}", body)
            except CUT_OFF:
                return
            if code >= REFUSED:
                raise AssertionError(f"PUBLISH Dog/{record_id} refused with reason code {code:#04x}")
            self._ledger.acknowledged(record_id, sequence)
