"""
Property-based tests (hypothesis) of L{harper.mqtt.codec} and of the server protocol: valid
packets of both protocol levels round-trip whatever the chunking of the stream, random,
truncated and corrupted bytes only ever raise our protocol errors, and a client sending garbage
is disconnected with the right reason code while the other clients of the broker carry on.

Examples are derived from the test names (C{derandomize}), so a run is reproducible in CI.
"""

from __future__ import annotations

from typing import Any, Optional

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import TestCase

from harper.mqtt.codec import MQTTDecoder, encode
from harper.mqtt.decoder import FLAGS
from harper.mqtt.packets import (
    MQTT_3_1_1,
    MQTT_5,
    REASON_CODES,
    Auth,
    ConnAck,
    Connect,
    ConnectReturnCode,
    Disconnect,
    MalformedPacket,
    Packet,
    PacketType,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    SubscriptionOptions,
    UnsubAck,
    Unsubscribe,
    UnsupportedProtocolVersion,
    Will,
)
from harper.mqtt.properties import NO_PROPERTIES, Properties
from tests.mqtt.wire import Peer, Wire

LEVELS = st.sampled_from([MQTT_3_1_1, MQTT_5])

#: Modest example counts, no deadline (the shared CI machine is slow), no example database.
CODEC = settings(max_examples=80, deadline=None, derandomize=True, database=None)
SERVER = settings(max_examples=40, deadline=None, derandomize=True, database=None)

# -- strategies of valid packets -------------------------------------------------------------

#: Text an MQTT string may hold: any Unicode scalar value but U+0000.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=12)
TOPIC_NAMES = st.text(st.characters(blacklist_categories=("Cs",),
                                    blacklist_characters="\x00+#"), min_size=1, max_size=12)
PAYLOADS = st.binary(max_size=64)
PACKET_IDS = st.integers(1, 0xFFFF)
QOS = st.integers(0, 2)
UINT32 = st.integers(0, 0xFFFFFFFF)
USER_PROPERTIES = st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=3).map(tuple)


def properties(**fields: st.SearchStrategy) -> st.SearchStrategy[Properties]:
    """
    Properties holding any subset of C{fields} (property name to strategy of its value).
    """
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: Properties(**values))


MESSAGE_PROPERTIES = properties(
    payload_format_indicator=st.integers(0, 1), message_expiry_interval=UINT32,
    content_type=TEXT, response_topic=TOPIC_NAMES, correlation_data=PAYLOADS,
    user_properties=USER_PROPERTIES,
)
REPLY_PROPERTIES = properties(reason_string=TEXT, user_properties=USER_PROPERTIES)


def v5_only(level: int, strategy: st.SearchStrategy, default: Any) -> st.SearchStrategy:
    """
    C{strategy} at MQTT 5, else the 3.1.1 value C{default} (a field MQTT 3.1.1 lacks).
    """
    return strategy if level == MQTT_5 else st.just(default)


def reason_codes(kind: PacketType) -> st.SearchStrategy[int]:
    """
    The MQTT 5 reason codes packets of type C{kind} may carry.
    """
    return st.sampled_from(sorted(REASON_CODES[kind]))


@st.composite
def publishes(draw: Any, level: int) -> Publish:
    """
    A valid PUBLISH at protocol C{level}.
    """
    qos = draw(QOS)
    return Publish(draw(TOPIC_NAMES), draw(PAYLOADS), qos, draw(st.booleans()),
                   bool(qos) and draw(st.booleans()), draw(PACKET_IDS) if qos else None,
                   draw(v5_only(level, MESSAGE_PROPERTIES, NO_PROPERTIES)))


@st.composite
def connects(draw: Any, level: int) -> Connect:
    """
    A valid CONNECT at protocol C{level}, with or without a will, user name and password.
    """
    will = draw(st.none() | st.builds(
        Will, TOPIC_NAMES, PAYLOADS, QOS, st.booleans(),
        v5_only(level, properties(will_delay_interval=UINT32, content_type=TEXT),
                NO_PROPERTIES)))
    username = draw(st.none() | TEXT)
    # MQTT 3.1.1 allows a password only with a user name.
    password = draw(st.none() | PAYLOADS) if username is not None or level == MQTT_5 else None
    connect_properties = properties(
        session_expiry_interval=UINT32, receive_maximum=st.integers(1, 0xFFFF),
        maximum_packet_size=st.integers(1, 0xFFFFFFFF), topic_alias_maximum=st.integers(0, 0xFFFF),
        user_properties=USER_PROPERTIES)
    return Connect(draw(TEXT), draw(st.booleans()), draw(st.integers(0, 0xFFFF)), will,
                   username, password, draw(v5_only(level, connect_properties, NO_PROPERTIES)),
                   level)


def acknowledgements(level: int) -> st.SearchStrategy[Packet]:
    """
    PUBACK, PUBREC, PUBREL and PUBCOMP at protocol C{level}.
    """
    return st.one_of(*(
        st.builds(cls, PACKET_IDS, v5_only(level, reason_codes(cls.packet_type), 0),
                  v5_only(level, REPLY_PROPERTIES, NO_PROPERTIES))
        for cls in (PubAck, PubRec, PubRel, PubComp)
    ))


def subscription_options(level: int) -> st.SearchStrategy[SubscriptionOptions]:
    """
    The options of one SUBSCRIBE entry at protocol C{level}.
    """
    if level == MQTT_3_1_1:
        return st.builds(SubscriptionOptions, QOS)
    return st.builds(SubscriptionOptions, QOS, st.booleans(), st.booleans(), st.integers(0, 2))


def subscriptions(level: int) -> st.SearchStrategy[Packet]:
    """
    SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK at protocol C{level}.
    """
    filters = st.lists(TEXT, min_size=1, max_size=3)
    v5_properties = properties(subscription_identifiers=st.tuples(st.integers(1, 268_435_455)),
                               user_properties=USER_PROPERTIES)
    suback_codes = (reason_codes(PacketType.SUBACK) if level == MQTT_5
                    else st.sampled_from([0x00, 0x01, 0x02, 0x80]))
    return st.one_of(
        st.builds(Subscribe, PACKET_IDS,
                  st.lists(st.tuples(TEXT, subscription_options(level)), min_size=1, max_size=3),
                  v5_only(level, v5_properties, NO_PROPERTIES)),
        st.builds(SubAck, PACKET_IDS, st.lists(suback_codes, min_size=1, max_size=3),
                  v5_only(level, REPLY_PROPERTIES, NO_PROPERTIES)),
        st.builds(Unsubscribe, PACKET_IDS, filters,
                  v5_only(level, properties(user_properties=USER_PROPERTIES), NO_PROPERTIES)),
        st.builds(UnsubAck, PACKET_IDS,
                  v5_only(level, st.lists(reason_codes(PacketType.UNSUBACK), min_size=1,
                                          max_size=3), ()),
                  v5_only(level, REPLY_PROPERTIES, NO_PROPERTIES)),
    )


def endings(level: int) -> st.SearchStrategy[Packet]:
    """
    CONNACK, PINGREQ, PINGRESP, DISCONNECT, and AUTH at MQTT 5.
    """
    simple = [st.just(PingReq()), st.just(PingResp())]
    if level == MQTT_3_1_1:
        return st.one_of(st.builds(ConnAck, st.booleans()), st.just(Disconnect()), *simple)
    return st.one_of(
        st.builds(ConnAck, st.just(False), reason_codes(PacketType.CONNACK),
                  properties(session_expiry_interval=UINT32, assigned_client_identifier=TEXT,
                             receive_maximum=st.integers(1, 0xFFFF), reason_string=TEXT)),
        st.builds(Disconnect, reason_codes(PacketType.DISCONNECT),
                  properties(reason_string=TEXT, session_expiry_interval=UINT32)),
        st.builds(Auth, reason_codes(PacketType.AUTH),
                  properties(authentication_method=TEXT, authentication_data=PAYLOADS)),
        *simple,
    )


def packets(level: int) -> st.SearchStrategy[Packet]:
    """
    Any valid packet at protocol C{level}.
    """
    return st.one_of(connects(level), publishes(level), acknowledgements(level),
                     subscriptions(level), endings(level))


LEVEL_AND_PACKETS = LEVELS.flatmap(
    lambda level: st.tuples(st.just(level), st.lists(packets(level), min_size=1, max_size=4)))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """
    C{data} cut at the given offsets (taken modulo its length plus one).
    """
    offsets = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *offsets, len(data)]
    return [data[start:stop] for start, stop in zip(bounds, bounds[1:])]


def feed_all(decoder: MQTTDecoder, chunks: list[bytes]) -> list[Packet]:
    """
    Feed C{chunks} one by one; return every packet decoded, or raise the decoder's error with
    the packets decoded before it in its C{packets} attribute.
    """
    decoded: list[Packet] = []
    for chunk in chunks:
        try:
            decoded += decoder.feed(chunk)
        except MalformedPacket as error:
            error.packets = (*decoded, *error.packets)
            raise
    return decoded


def frame(first: int, body: bytes) -> bytes:
    """
    A packet with first byte C{first} and a Remaining Length that matches C{body}.
    """
    length, header = len(body), bytearray((first,))
    while True:
        length, digit = length >> 7, length & 0x7F
        header.append(digit | 0x80 if length else digit)
        if not length:
            return bytes(header) + body


def body_of(data: bytes) -> bytes:
    """
    The bytes after the fixed header of one encoded packet.
    """
    position = 1
    while data[position] & 0x80:
        position += 1
    return data[position + 1:]


#: A protocol name and level other than MQTT 3.1.1's and 5.0's.
OTHER_PROTOCOLS = st.tuples(TEXT, st.integers(0, 255)).filter(
    lambda protocol: protocol not in (("MQTT", MQTT_3_1_1), ("MQTT", MQTT_5)))


#: The bytes of protocol name "MQTT" (with its length) and protocol level in a CONNECT body.
MQTT_NAME_AND_LEVEL = 7


def foreign_connect(name: str, level: int, connect: Connect) -> bytes:
    """
    The MQTT 3.1.1 encoding of C{connect} with protocol name C{name} and level C{level}.
    """
    body = body_of(encode(connect, MQTT_3_1_1))
    encoded_name = name.encode("utf-8")
    prefix = len(encoded_name).to_bytes(2, "big") + encoded_name + bytes((level,))
    return frame(0x10, prefix + body[MQTT_NAME_AND_LEVEL:])


class RoundTripTests(TestCase):
    """
    Encoding then decoding gives the packet back.
    """

    @CODEC
    @given(LEVEL_AND_PACKETS, st.lists(st.integers(0, 10_000), max_size=8))
    def test_round_trip(self, level_and_packets: tuple[int, list[Packet]], cuts: list[int]) -> None:
        """
        A stream of valid packets of either protocol level, encoded and fed to a decoder of
        that level in arbitrary chunks, decodes to the same packets in the same order.
        """
        level, sent = level_and_packets
        data = b"".join(encode(packet, level) for packet in sent)
        self.assertEqual(feed_all(MQTTDecoder(level), split(data, cuts)), sent)

    @CODEC
    @given(LEVELS.flatmap(lambda level: st.tuples(st.just(level), connects(level))))
    def test_connect_sets_level(self, level_and_connect: tuple[int, Connect]) -> None:
        """
        A server-side decoder, which starts without a protocol level, decodes a CONNECT of
        either level and takes its level for the packets after it.
        """
        level, connect = level_and_connect
        decoder = MQTTDecoder()
        self.assertEqual(decoder.feed(encode(connect, level)), [connect])
        self.assertEqual(decoder.protocol_level, level)


class BadBytesTests(TestCase):
    """
    Whatever the bytes, the decoder returns packets, waits for more, or raises
    L{MalformedPacket} (of which L{UnsupportedProtocolVersion} is a kind); nothing else.
    """

    def assert_decodes_or_refuses(self, decoder: MQTTDecoder, chunks: list[bytes]) -> None:
        """
        Feeding C{chunks} raises nothing but L{MalformedPacket}, whose reason code is an MQTT 5
        error code; once raised, the decoder keeps refusing.
        """
        try:
            feed_all(decoder, chunks)
        except MalformedPacket as error:
            self.assertTrue(0x80 <= error.reason_code <= 0xA2, error.reason_code)
            self.assertRaises(MalformedPacket, decoder.feed, b"\xc0\x00")

    @CODEC
    @given(st.sampled_from([None, MQTT_3_1_1, MQTT_5]),
           st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=4))
    def test_random_bytes(self, level: Optional[int], chunks: list[bytes]) -> None:
        """
        Random bytes, for a server-side decoder or a client-side one of either level.
        """
        self.assert_decodes_or_refuses(MQTTDecoder(level), chunks)

    @CODEC
    @given(OTHER_PROTOCOLS, connects(MQTT_3_1_1))
    def test_unsupported_protocol(self, protocol: tuple[str, int], connect: Connect) -> None:
        """
        A CONNECT for any other protocol name or level raises L{UnsupportedProtocolVersion}
        naming them, with reason code 0x84.
        """
        name, level = protocol
        with self.assertRaises(UnsupportedProtocolVersion) as caught:
            MQTTDecoder().feed(foreign_connect(name, level, connect))
        self.assertEqual((caught.exception.protocol_name, caught.exception.protocol_level),
                         protocol)
        self.assertEqual(caught.exception.reason_code, 0x84)

    @CODEC
    @given(LEVEL_AND_PACKETS, st.binary(min_size=1, max_size=40))
    def test_random_bytes_after_packets(self, level_and_packets: tuple[int, list[Packet]],
                                        garbage: bytes) -> None:
        """
        Random bytes after valid packets: the valid packets come out first (in the error's
        C{packets} when the garbage is refused in the same call).
        """
        level, sent = level_and_packets
        data = b"".join(encode(packet, level) for packet in sent)
        try:
            decoded = MQTTDecoder(level).feed(data + garbage)
        except MalformedPacket as error:
            decoded = list(error.packets)
        self.assertEqual(decoded[:len(sent)], sent)

    @CODEC
    @given(LEVEL_AND_PACKETS, st.integers(0, 10_000))
    def test_truncated_stream(self, level_and_packets: tuple[int, list[Packet]], cut: int) -> None:
        """
        A stream cut short anywhere yields the complete packets before the cut and waits for
        the rest of the last one.
        """
        level, sent = level_and_packets
        encoded = [encode(packet, level) for packet in sent]
        data = b"".join(encoded)
        cut %= len(data)
        complete = sum(1 for end in _ends(encoded) if end <= cut)
        self.assertEqual(MQTTDecoder(level).feed(data[:cut]), sent[:complete])

    @CODEC
    @given(LEVELS.flatmap(lambda level: st.tuples(st.just(level), packets(level))),
           st.integers(0, 10_000))
    def test_truncated_body(self, level_and_packet: tuple[int, Packet], cut: int) -> None:
        """
        A packet whose body is cut short but whose Remaining Length says so (a lying sender)
        decodes to some packet or is refused with L{MalformedPacket}.
        """
        level, packet = level_and_packet
        data = encode(packet, level)
        body = body_of(data)
        truncated = frame(data[0], body[:cut % (len(body) + 1)])
        self.assert_decodes_or_refuses(MQTTDecoder(level), [truncated])

    @CODEC
    @given(LEVELS.flatmap(lambda level: st.tuples(st.just(level), packets(level))),
           st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1,
                    max_size=3))
    def test_corrupted_bytes(self, level_and_packet: tuple[int, Packet],
                             changes: list[tuple[int, int]]) -> None:
        """
        A valid packet with some bytes overwritten decodes, waits for more, or is refused with
        L{MalformedPacket}.
        """
        level, packet = level_and_packet
        data = bytearray(encode(packet, level))
        for position, value in changes:
            data[position % len(data)] = value
        self.assert_decodes_or_refuses(MQTTDecoder(level), [bytes(data)])


def _ends(encoded: list[bytes]) -> list[int]:
    """
    The offset at which each of the concatenated C{encoded} packets ends.
    """
    ends, total = [], 0
    for data in encoded:
        total += len(data)
        ends.append(total)
    return ends


#: First bytes no packet may start with at either level once connected: reserved type 0, or
#: fixed header flags that are not those of the type (MQTT-2.1.3-1).
BAD_FIRST_BYTES = st.sampled_from([
    first for first in range(256)
    if first >> 4 == 0 or (first >> 4 != PacketType.PUBLISH and first & 0x0F != FLAGS[first >> 4])
])
#: Random bytes that break the protocol at their first packet: a bad first byte, a one-byte
#: Remaining Length, and anything.
VIOLATIONS = st.tuples(BAD_FIRST_BYTES, st.integers(0, 0x7F), st.binary(max_size=40)).map(
    lambda parts: bytes(parts[:2]) + parts[2])
GARBAGE = st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=3)
TOPIC = "news/today"


class GarbageOnTheWireTests(TestCase):
    """
    A connected client that sends bytes breaking the protocol is disconnected with the right
    reason code (MQTT-4.13.1-1), and the other clients of the broker are unaffected.
    """

    def start(self, level: int) -> tuple[Wire, Peer, Peer]:
        """
        A fresh broker with a connected client at C{level} and a subscriber to L{TOPIC}.
        """
        wire = Wire()
        subscriber = wire.subscriber("bystander", TOPIC, qos=1)
        client = wire.client("culprit", level)
        self.assertFalse(client.closed)
        return wire, client, subscriber

    def assert_unaffected(self, wire: Wire, subscriber: Peer) -> None:
        """
        The subscriber is still connected and still gets the messages published to L{TOPIC}.
        """
        publisher = wire.client("publisher")
        publisher.send(Publish(TOPIC, b"still here", 1, packet_id=1))
        self.assertIn(PubAck(1), publisher.received())
        delivered = [packet for packet in subscriber.received() if isinstance(packet, Publish)]
        self.assertIn((TOPIC, b"still here"), [(packet.topic, packet.payload)
                                               for packet in delivered])
        self.assertFalse(subscriber.closed)

    def assert_disconnect_reasons(self, client: Peer, level: int) -> list[Packet]:
        """
        Every DISCONNECT the server sent the client is an MQTT 5 one with an error reason code;
        return the packets it sent.
        """
        sent = client.received()
        reasons = [packet.reason_code for packet in sent if isinstance(packet, Disconnect)]
        if level == MQTT_3_1_1:
            self.assertEqual(reasons, [])
        for reason in reasons:
            self.assertTrue(0x80 <= reason <= 0xA2, reason)
        return sent

    @SERVER
    @given(LEVELS, VIOLATIONS)
    def test_violation_disconnects(self, level: int, garbage: bytes) -> None:
        """
        Bytes that break the protocol close the connection: at MQTT 5 after a DISCONNECT with
        the decoder's error reason code as the last packet, at MQTT 3.1.1 without a word.
        """
        wire, client, subscriber = self.start(level)
        client.send_bytes(garbage)
        sent = self.assert_disconnect_reasons(client, level)
        self.assertTrue(client.closed)
        if level == MQTT_5:
            self.assertIsInstance(sent[-1] if sent else None, Disconnect)
        self.assert_unaffected(wire, subscriber)

    @SERVER
    @given(LEVELS, GARBAGE)
    def test_random_bytes(self, level: int, chunks: list[bytes]) -> None:
        """
        Random bytes in random chunks never raise out of the protocol; a DISCONNECT the server
        sends carries an error reason code; the other clients carry on.
        """
        wire, client, subscriber = self.start(level)
        for chunk in chunks:
            if client.closed:
                break
            client.send_bytes(chunk)
        self.assert_disconnect_reasons(client, level)
        self.assert_unaffected(wire, subscriber)

    @SERVER
    @given(OTHER_PROTOCOLS, connects(MQTT_3_1_1))
    def test_unsupported_protocol(self, protocol: tuple[str, int], connect: Connect) -> None:
        """
        A CONNECT for another protocol gets CONNACK 0x01 in the 3.1.1 format and the
        connection closes (MQTT-3.1.2-2 of 3.1.1); the other clients carry on.
        """
        wire = Wire()
        subscriber = wire.subscriber("bystander", TOPIC, qos=1)
        client = wire.peer(MQTT_3_1_1)
        client.send_bytes(foreign_connect(*protocol, connect))
        self.assertEqual(client.received(),
                         [ConnAck(False, ConnectReturnCode.UNACCEPTABLE_PROTOCOL_VERSION)])
        self.assertTrue(client.closed)
        self.assert_unaffected(wire, subscriber)
