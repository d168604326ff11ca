"""
Tests for L{harper.mqtt.codec}, L{harper.mqtt.packets} and L{harper.mqtt.properties}.

Hex vectors are written by hand from the MQTT 3.1.1 and 5.0 specifications; docstrings name
the conformance statement a test checks.
"""

from __future__ import annotations

import copy
import pickle
from typing import Optional

import attr
from twisted.trial.unittest import TestCase

from harper.mqtt.codec import MQTTDecoder, encode
from harper.mqtt.encoder import encode_publish, with_packet_id
from harper.mqtt.packets import (
    MQTT_3_1_1,
    MQTT_5,
    Auth,
    ConnAck,
    Connect,
    ConnectReturnCode,
    Disconnect,
    MalformedPacket,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ReasonCode,
    RetainHandling,
    SubAck,
    Subscribe,
    SubscriptionOptions,
    UnsubAck,
    Unsubscribe,
    UnsupportedProtocolVersion,
    Will,
)
from harper.mqtt.properties import NO_PROPERTIES, PROPERTY_TABLE, Properties

MALFORMED = ReasonCode.MALFORMED_PACKET
PROTOCOL_ERROR = ReasonCode.PROTOCOL_ERROR


def unhex(text: str) -> bytes:
    """
    Bytes from hex digits that may be grouped with spaces.
    """
    return bytes.fromhex(text)


def decode(data: bytes, level: Optional[int]) -> list[Packet]:
    """
    Decode C{data} in one call with a fresh decoder at C{level}.
    """
    return MQTTDecoder(protocol_level=level).feed(data)


def decode_bytewise(data: bytes, level: Optional[int]) -> list[Packet]:
    """
    Decode C{data} one byte per call with a fresh decoder at C{level}.
    """
    decoder = MQTTDecoder(protocol_level=level)
    packets: list[Packet] = []
    for index in range(len(data)):
        packets.extend(decoder.feed(data[index:index + 1]))
    return packets


class CodecTestCase(TestCase):
    """
    Assertions shared by the codec tests.
    """

    def assertVector(self, packet: Packet, level: int, vector: str) -> None:
        """
        C{packet} encodes to C{vector} at C{level}, and C{vector} decodes back to C{packet}
        whether it arrives whole or byte by byte.
        """
        data = unhex(vector)
        self.assertEqual(encode(packet, level).hex(" "), data.hex(" "))
        decoder_level = None if isinstance(packet, Connect) else level
        self.assertEqual(decode(data, decoder_level), [packet])
        self.assertEqual(decode_bytewise(data, decoder_level), [packet])

    def assertRoundTrip(self, packet: Packet, level: int) -> None:
        """
        C{packet} survives encoding and decoding at C{level} unchanged.
        """
        decoder_level = None if isinstance(packet, Connect) else level
        self.assertEqual(decode(encode(packet, level), decoder_level), [packet])

    def assertMalformed(self, vector: str, level: Optional[int],
                        reason_code: int = MALFORMED) -> MalformedPacket:
        """
        Decoding C{vector} at C{level} fails with C{reason_code}, even byte by byte.
        """
        data = unhex(vector)
        failure = self.assertRaises(MalformedPacket, decode, data, level)
        self.assertEqual(failure.reason_code, reason_code, str(failure))
        self.assertRaises(MalformedPacket, decode_bytewise, data, level)
        return failure


class VectorTests31(CodecTestCase):
    """
    MQTT 3.1.1 packets against hand-written bytes.
    """

    def test_connect(self) -> None:
        """
        A CONNECT with a client id, clean session and keep alive (MQTT 3.1.1 section 3.1).
        """
        self.assertVector(
            Connect("abc", keep_alive=60, protocol_level=MQTT_3_1_1), MQTT_3_1_1,
            "10 0f 0004 4d515454 04 02 003c 0003 616263",
        )

    def test_connect_with_will_and_credentials(self) -> None:
        """
        The connect flags carry user name, password, will retain, will QoS 1, will and clean
        session (0xEE), and the payload fields follow in order (MQTT-3.1.3-1).
        """
        packet = Connect("c", keep_alive=10, will=Will("w", b"bye", 1, True), username="u",
                         password=b"p", protocol_level=MQTT_3_1_1)
        self.assertVector(
            packet, MQTT_3_1_1,
            "10 1b 0004 4d515454 04 ee 000a 0001 63 0001 77 0003 627965 0001 75 0001 70",
        )

    def test_connack(self) -> None:
        """
        CONNACK carries the session-present flag and a return code.
        """
        self.assertVector(ConnAck(True), MQTT_3_1_1, "20 02 01 00")
        self.assertVector(ConnAck(False, ConnectReturnCode.BAD_USER_NAME_OR_PASSWORD),
                          MQTT_3_1_1, "20 02 00 04")

    def test_publish_qos0(self) -> None:
        """
        A QoS 0 PUBLISH has no packet identifier (MQTT-2.3.1-5).
        """
        self.assertVector(Publish("a/b", b"hi"), MQTT_3_1_1, "30 07 0003 612f62 6869")

    def test_publish_qos1(self) -> None:
        """
        A QoS 1 PUBLISH has QoS bits 01, the RETAIN bit, and a packet identifier.
        """
        self.assertVector(Publish("a/b", b"hi", qos=1, retain=True, packet_id=10), MQTT_3_1_1,
                          "33 09 0003 612f62 000a 6869")

    def test_publish_qos2_dup(self) -> None:
        """
        A redelivered QoS 2 PUBLISH sets the DUP bit.
        """
        self.assertVector(Publish("t", b"", qos=2, dup=True, packet_id=1), MQTT_3_1_1,
                          "3c 05 0001 74 0001")

    def test_acknowledgements(self) -> None:
        """
        PUBACK, PUBREC and PUBCOMP have flags 0000, PUBREL 0010, and all carry only the packet
        identifier (MQTT-3.6.1-1).
        """
        self.assertVector(PubAck(10), MQTT_3_1_1, "40 02 000a")
        self.assertVector(PubRec(10), MQTT_3_1_1, "50 02 000a")
        self.assertVector(PubRel(10), MQTT_3_1_1, "62 02 000a")
        self.assertVector(PubComp(10), MQTT_3_1_1, "70 02 000a")

    def test_subscribe(self) -> None:
        """
        SUBSCRIBE has flags 0010 (MQTT-3.8.1-1) and a topic filter and QoS byte per entry.
        """
        self.assertVector(Subscribe(1, [("a/+", SubscriptionOptions(1))]), MQTT_3_1_1,
                          "82 08 0001 0003 612f2b 01")

    def test_suback(self) -> None:
        """
        SUBACK carries one return code per filter: granted QoS or 0x80 (MQTT-3.9.3-2).
        """
        self.assertVector(SubAck(1, [1, 0x80]), MQTT_3_1_1, "90 04 0001 01 80")

    def test_unsubscribe_and_unsuback(self) -> None:
        """
        UNSUBSCRIBE has flags 0010 (MQTT-3.10.1-1); UNSUBACK carries only the packet id.
        """
        self.assertVector(Unsubscribe(2, ["a"]), MQTT_3_1_1, "a2 05 0002 0001 61")
        self.assertVector(UnsubAck(2), MQTT_3_1_1, "b0 02 0002")

    def test_ping_and_disconnect(self) -> None:
        """
        PINGREQ, PINGRESP and DISCONNECT are a fixed header with remaining length 0.
        """
        self.assertVector(PingReq(), MQTT_3_1_1, "c0 00")
        self.assertVector(PingResp(), MQTT_3_1_1, "d0 00")
        self.assertVector(Disconnect(), MQTT_3_1_1, "e0 00")


class VectorTests5(CodecTestCase):
    """
    MQTT 5 packets against hand-written bytes.
    """

    def test_connect(self) -> None:
        """
        A CONNECT with level 5 and a Session Expiry Interval property.
        """
        self.assertVector(
            Connect("abc", keep_alive=60, properties=Properties(session_expiry_interval=120)),
            MQTT_5, "10 15 0004 4d515454 05 02 003c 05 1100000078 0003 616263",
        )

    def test_connect_with_will_and_credentials(self) -> None:
        """
        Will properties come between the client id and the will topic (MQTT-3.1.3-1).
        """
        packet = Connect("c", keep_alive=10, will=Will("w", b"bye", 1, True), username="u",
                         password=b"p")
        self.assertVector(
            packet, MQTT_5,
            "10 1d 0004 4d515454 05 ee 000a 00 0001 63 00 0001 77 0003 627965 0001 75 0001 70",
        )

    def test_connect_password_without_username(self) -> None:
        """
        MQTT 5 allows a password without a user name (section 3.1.2.9).
        """
        self.assertVector(Connect("", password=b"p"), MQTT_5,
                          "10 10 0004 4d515454 05 42 0000 00 0000 0001 70")

    def test_connack(self) -> None:
        """
        CONNACK has flags, a reason code and properties.
        """
        self.assertVector(ConnAck(), MQTT_5, "20 03 00 00 00")
        self.assertVector(ConnAck(True, properties=Properties(topic_alias_maximum=10)), MQTT_5,
                          "20 06 01 00 03 22000a")
        self.assertVector(ConnAck(False, ReasonCode.NOT_AUTHORIZED), MQTT_5, "20 03 00 87 00")

    def test_publish_qos0(self) -> None:
        """
        A QoS 0 PUBLISH has a property length after the topic.
        """
        self.assertVector(Publish("a/b", b"hi"), MQTT_5, "30 08 0003 612f62 00 6869")

    def test_publish_qos1(self) -> None:
        """
        A QoS 1 PUBLISH has the packet identifier before its properties.
        """
        self.assertVector(
            Publish("a/b", b"hi", qos=1, packet_id=10,
                    properties=Properties(message_expiry_interval=30)),
            MQTT_5, "32 0f 0003 612f62 000a 05 020000001e 6869",
        )

    def test_publish_topic_alias_only(self) -> None:
        """
        A zero-length topic name is allowed with a Topic Alias (section 3.3.2.3.4).
        """
        self.assertVector(Publish("", b"x", properties=Properties(topic_alias=1)), MQTT_5,
                          "30 07 0000 03 230001 78")

    def test_acknowledgements(self) -> None:
        """
        The reason code and property length are left out when they are Success and empty
        (section 3.4.2.1), and present otherwise.
        """
        self.assertVector(PubAck(10), MQTT_5, "40 02 000a")
        self.assertVector(PubRec(10, ReasonCode.NO_MATCHING_SUBSCRIBERS), MQTT_5,
                          "50 03 000a 10")
        self.assertVector(PubRel(10, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND,
                                 Properties(reason_string="x")), MQTT_5,
                          "62 08 000a 92 04 1f000178")
        self.assertVector(PubComp(10), MQTT_5, "70 02 000a")

    def test_subscribe(self) -> None:
        """
        The subscription options byte holds QoS, No Local, Retain As Published and Retain
        Handling (section 3.8.3.1).
        """
        options = SubscriptionOptions(1, True, True, RetainHandling.DO_NOT_SEND)
        self.assertVector(Subscribe(1, [("a/+", options)]), MQTT_5,
                          "82 09 0001 00 0003 612f2b 2d")

    def test_subscribe_identifier(self) -> None:
        """
        SUBSCRIBE may carry one Subscription Identifier.
        """
        self.assertVector(
            Subscribe(3, [("a", SubscriptionOptions())],
                      Properties(subscription_identifiers=[200])),
            MQTT_5, "82 0a 0003 03 0bc801 0001 61 00",
        )

    def test_suback(self) -> None:
        """
        SUBACK carries properties and one reason code per filter.
        """
        self.assertVector(SubAck(1, [1, ReasonCode.NOT_AUTHORIZED]), MQTT_5,
                          "90 05 0001 00 01 87")

    def test_unsubscribe_and_unsuback(self) -> None:
        """
        UNSUBSCRIBE carries properties; UNSUBACK carries properties and reason codes.
        """
        self.assertVector(Unsubscribe(2, ["a"]), MQTT_5, "a2 06 0002 00 0001 61")
        self.assertVector(UnsubAck(2, [ReasonCode.NO_SUBSCRIPTION_EXISTED]), MQTT_5,
                          "b0 04 0002 00 11")

    def test_disconnect(self) -> None:
        """
        DISCONNECT leaves out a normal reason code and empty properties (section 3.14.2.1).
        """
        self.assertVector(Disconnect(), MQTT_5, "e0 00")
        self.assertVector(Disconnect(ReasonCode.DISCONNECT_WITH_WILL_MESSAGE), MQTT_5,
                          "e0 01 04")
        self.assertVector(
            Disconnect(ReasonCode.SERVER_SHUTTING_DOWN, Properties(reason_string="x")),
            MQTT_5, "e0 06 8b 04 1f000178",
        )

    def test_auth(self) -> None:
        """
        AUTH carries a reason code and the authentication method (section 3.15).
        """
        self.assertVector(Auth(), MQTT_5, "f0 00")
        self.assertVector(
            Auth(ReasonCode.CONTINUE_AUTHENTICATION, Properties(authentication_method="m")),
            MQTT_5, "f0 06 18 04 1500016d",
        )

    def test_ping(self) -> None:
        """
        PINGREQ and PINGRESP are unchanged in MQTT 5.
        """
        self.assertVector(PingReq(), MQTT_5, "c0 00")
        self.assertVector(PingResp(), MQTT_5, "d0 00")

    def test_every_property_type(self) -> None:
        """
        Properties of every data type (byte, two- and four-byte integer, variable byte
        integer, UTF-8 string, binary data, string pair) keep their wire order, and the
        repeatable ones (User Property, Subscription Identifier in PUBLISH) keep every value.
        """
        properties = Properties(
            payload_format_indicator=1, message_expiry_interval=60, content_type="t",
            response_topic="r", correlation_data=b"\x01\x02", subscription_identifiers=[5, 128],
            topic_alias=7, user_properties=[("k", "v"), ("k", "w")],
        )
        self.assertVector(
            Publish("a", b"x", properties=properties), MQTT_5,
            "30 2f 0001 61 2a 0101 020000003c 03000174 08000172 0900020102 0b05 0b8001 "
            "230007 2600016b000176 2600016b000177 78",
        )

    def test_all_properties_round_trip(self) -> None:
        """
        Every property of the table survives a round trip in some packet it may appear in.
        """
        samples = {"payload_format_indicator": 1, "subscription_identifiers": (3,),
                   "request_problem_information": 0, "request_response_information": 1,
                   "maximum_qos": 1, "user_properties": (("a", "b"),)}
        for definition in PROPERTY_TABLE:
            value = samples.get(definition.name)
            if value is None:
                value = {"UTF-8 string": "s", "binary data": b"\x00\xff"}.get(
                    definition.type.value, 1)
            properties = Properties(**{definition.name: value})
            packet = self._carrier(sorted(definition.packets)[0], properties)
            self.assertRoundTrip(packet, MQTT_5)

    def test_property_attributes(self) -> None:
        """
        Each property of the table reads as an attribute: its value when set, C{None} (an
        empty tuple for the repeatable ones) when not; other names are not attributes.
        """
        for definition in PROPERTY_TABLE:
            absent = () if definition.multiple else None
            self.assertEqual(getattr(NO_PROPERTIES, definition.name), absent, definition.name)
        self.assertEqual(Properties(topic_alias=3).topic_alias, 3)
        self.assertEqual(Properties(user_properties=[("k", "v")]).user_properties, (("k", "v"),))
        self.assertRaises(AttributeError, getattr, NO_PROPERTIES, "no_such_property")

    def test_encode_publish(self) -> None:
        """
        L{encode_publish} writes the bytes L{encode} writes for the same PUBLISH, at both
        levels, and refuses what L{encode} refuses.
        """
        packets = [Publish("a/b", b"hi"), Publish("a/b", b"x" * 200, 1, True, True, 9),
                   Publish("t", b"", 2, packet_id=1,
                           properties=Properties(message_expiry_interval=5, topic_alias=2))]
        for level in (MQTT_3_1_1, MQTT_5):
            for packet in packets:
                self.assertEqual(
                    encode_publish(packet.topic, packet.payload, packet.qos, packet.retain,
                                   packet.dup, packet.packet_id, packet.properties, level),
                    encode(packet, level))
        self.assertRaises(ValueError, encode_publish, "t", b"", 1, False, False, None,
                          NO_PROPERTIES, MQTT_5)
        self.assertRaises(ValueError, encode_publish, "t", b"", 0, False, False, None,
                          NO_PROPERTIES, 3)

    def test_with_packet_id(self) -> None:
        """
        L{with_packet_id} turns an encoded QoS 1 or 2 PUBLISH into the one with another packet
        identifier, whatever the length of its Remaining Length field, at both levels.
        """
        for level in (MQTT_3_1_1, MQTT_5):
            for payload in (b"", b"x" * 200, b"y" * 20000):
                packet = Publish("a/b", payload, 1, packet_id=1,
                                 properties=Properties(content_type="text/plain"))
                self.assertEqual(with_packet_id(encode(packet, level), 65535),
                                 encode(attr.evolve(packet, packet_id=65535), level))
        self.assertRaises(ValueError, with_packet_id, encode(Publish("t", b"", 2, packet_id=3),
                                                             MQTT_5), 0)

    def _carrier(self, context: str, properties: Properties) -> Packet:
        """
        A packet of type C{context} (or a CONNECT with a will) holding C{properties}.
        """
        return {
            "WILL": lambda: Connect("c", will=Will("w", properties=properties)),
            "CONNECT": lambda: Connect("c", properties=properties),
            "CONNACK": lambda: ConnAck(properties=properties),
            "PUBLISH": lambda: Publish("t", properties=properties),
            "PUBACK": lambda: PubAck(1, properties=properties),
            "SUBSCRIBE": lambda: Subscribe(1, [("t", SubscriptionOptions())], properties),
            "DISCONNECT": lambda: Disconnect(properties=properties),
            "AUTH": lambda: Auth(properties=properties),
        }[context]()


class StreamTests(CodecTestCase):
    """
    L{MQTTDecoder} buffering and protocol level.
    """

    def test_partial_and_multiple_packets(self) -> None:
        """
        A packet split over calls is returned once complete, and one call can complete
        several packets.
        """
        data = encode(PubAck(1), MQTT_5) + encode(PubAck(2), MQTT_5) + encode(PingReq(), MQTT_5)
        decoder = MQTTDecoder(MQTT_5)
        self.assertEqual(decoder.feed(data[:3]), [])
        self.assertEqual(decoder.feed(data[3:]), [PubAck(1), PubAck(2), PingReq()])

    def test_long_remaining_length(self) -> None:
        """
        Remaining lengths of two, three and four bytes are written as in MQTT 3.1.1 table 2.4
        and read across calls.
        """
        for remaining, header in ((128, "30 80 01"), (16_384, "30 80 80 01"),
                                  (2_097_152, "30 80 80 80 01")):
            packet = Publish("t", b"p" * (remaining - 3))
            data = encode(packet, MQTT_3_1_1)
            self.assertEqual(data[:len(unhex(header))], unhex(header))
            decoder = MQTTDecoder(MQTT_3_1_1)
            received: list[Packet] = []
            for offset in range(0, len(data), 65536):
                received.extend(decoder.feed(data[offset:offset + 65536]))
            self.assertEqual(received, [packet])

    def test_connect_sets_level(self) -> None:
        """
        A server decoder reads packets after CONNECT at the CONNECT's level: here a 3.1.1
        PUBACK, which has no reason code.
        """
        decoder = MQTTDecoder()
        self.assertIsNone(decoder.protocol_level)
        connect = Connect("c", protocol_level=MQTT_3_1_1)
        packets = decoder.feed(encode(connect, MQTT_3_1_1) + unhex("40 02 0001"))
        self.assertEqual(packets, [connect, PubAck(1)])
        self.assertEqual(decoder.protocol_level, MQTT_3_1_1)

    def test_client_level(self) -> None:
        """
        A client decoder given level 5 reads a CONNACK with properties.
        """
        self.assertEqual(decode(unhex("20 03 00 00 00"), MQTT_5), [ConnAck()])

    def test_first_packet_must_be_connect(self) -> None:
        """
        A server decoder refuses anything before CONNECT (MQTT-3.1.0-1).
        """
        self.assertMalformed("c0 00", None, PROTOCOL_ERROR)

    def test_failure_is_final(self) -> None:
        """
        The packets decoded before a malformed one come with the error, and the decoder
        keeps failing afterwards.
        """
        decoder = MQTTDecoder(MQTT_5)
        failure = self.assertRaises(MalformedPacket, decoder.feed, unhex("c0 00 d0 00 c1 00"))
        self.assertEqual(failure.packets, (PingReq(), PingResp()))
        self.assertRaises(MalformedPacket, decoder.feed, unhex("c0 00"))

    def test_packet_too_large(self) -> None:
        """
        A packet over the maximum packet size fails with reason code 0x95 as soon as its fixed
        header arrives (MQTT 5 section 3.1.2.11.4).
        """
        decoder = MQTTDecoder(MQTT_5, max_packet_size=10)
        self.assertEqual(decoder.feed(unhex("30 06 0001 74 00 7878")), [Publish("t", b"xx")])
        failure = self.assertRaises(MalformedPacket, decoder.feed, unhex("30 09 0001"))
        self.assertEqual(failure.reason_code, ReasonCode.PACKET_TOO_LARGE)

    def test_invalid_level(self) -> None:
        """
        Only levels 4 and 5 can be given to the decoder and to L{encode}.
        """
        self.assertRaises(ValueError, MQTTDecoder, 3)
        self.assertRaises(ValueError, encode, PingReq(), 6)


class FixedHeaderTests(CodecTestCase):
    """
    Malformed fixed headers.
    """

    def test_remaining_length_five_bytes(self) -> None:
        """
        A Remaining Length has at most four bytes (MQTT-1.5.5-1, MQTT 3.1.1 section 2.2.3).
        """
        self.assertMalformed("30 ff ff ff ff 7f", MQTT_5)

    def test_remaining_length_not_minimal(self) -> None:
        """
        A Remaining Length uses the fewest bytes possible (MQTT-1.5.5-1).
        """
        self.assertMalformed("c0 80 00", MQTT_5)

    def test_reserved_types(self) -> None:
        """
        Packet type 0 is reserved, and so is 15 (AUTH) in MQTT 3.1.1 (section 2.2.1).
        """
        self.assertMalformed("00 00", MQTT_5)
        self.assertMalformed("f0 00", MQTT_3_1_1)

    def test_reserved_flags(self) -> None:
        """
        Flags marked reserved must have their listed value (MQTT-2.1.3-1, MQTT-2.2.2-2 of
        3.1.1): 0010 for PUBREL (MQTT-3.6.1-1), SUBSCRIBE (MQTT-3.8.1-1) and UNSUBSCRIBE
        (MQTT-3.10.1-1), 0000 for the rest.
        """
        for level in (MQTT_3_1_1, MQTT_5):
            self.assertMalformed("60 02 0001", level)
            self.assertMalformed("80 06 0001 0001 61 00", level)
            self.assertMalformed("a0 05 0001 0001 61", level)
            self.assertMalformed("42 02 0001", level)
            self.assertMalformed("c8 00", level)
            self.assertMalformed("e1 00", level)
        self.assertMalformed("11 0f 0004 4d515454 04 02 003c 0003 616263", None)

    def test_extra_bytes(self) -> None:
        """
        Bytes left after the last field of a packet make it malformed.
        """
        self.assertMalformed("40 03 0001 00", MQTT_3_1_1)
        self.assertMalformed("c0 01 00", MQTT_5)
        self.assertMalformed("e0 01 00", MQTT_3_1_1)

    def test_truncated_fields(self) -> None:
        """
        A Remaining Length too short for the packet's fields makes it malformed.
        """
        self.assertMalformed("40 01 00", MQTT_5)
        self.assertMalformed("30 02 0005", MQTT_5)
        self.assertMalformed("10 06 0004 4d515454", None)


class StringTests(CodecTestCase):
    """
    The rules for UTF-8 Encoded Strings, checked on a PUBLISH topic.
    """

    def test_ill_formed(self) -> None:
        """
        Character data must be well-formed UTF-8 (MQTT-1.5.4-1).
        """
        self.assertMalformed("30 04 0002 c328", MQTT_5)

    def test_surrogate(self) -> None:
        """
        UTF-8 encodings of U+D800..U+DFFF are refused (MQTT-1.5.4-1).
        """
        self.assertMalformed("30 05 0003 eda080", MQTT_3_1_1)

    def test_null(self) -> None:
        """
        U+0000 is refused (MQTT-1.5.4-2).
        """
        self.assertMalformed("30 05 0003 610062", MQTT_3_1_1)

    def test_bom_kept(self) -> None:
        """
        A leading byte order mark is part of the string (MQTT-1.5.4-3).
        """
        [packet] = decode(unhex("30 06 0004 efbbbf61"), MQTT_3_1_1)
        self.assertEqual(packet.topic, "\ufeffa")

    def test_encode_refuses_bad_strings(self) -> None:
        """
        L{encode} refuses strings MQTT cannot carry, with L{ValueError}.
        """
        for topic in ("a\x00b", "\ud800", "x" * 65536):
            self.assertRaises(ValueError, encode, Publish(topic), MQTT_5)


class ConnectTests(CodecTestCase):
    """
    Malformed CONNECT packets.
    """

    def test_unsupported_level(self) -> None:
        """
        A protocol level other than 4 or 5 raises L{UnsupportedProtocolVersion}, reason 0x84,
        so the server can answer CONNACK 0x01 or 0x84 (MQTT-3.1.2-2).
        """
        failure = self.assertMalformed("10 0f 0004 4d515454 06 02 003c 0003 616263", None,
                                       ReasonCode.UNSUPPORTED_PROTOCOL_VERSION)
        self.assertIsInstance(failure, UnsupportedProtocolVersion)
        self.assertEqual((failure.protocol_name, failure.protocol_level), ("MQTT", 6))

    def test_mqtt_3_1(self) -> None:
        """
        MQTT 3.1 ("MQIsdp", level 3) is an unsupported protocol (MQTT-3.1.2-1).
        """
        failure = self.assertMalformed("10 11 0006 4d5149736470 03 02 003c 0003 616263", None,
                                       ReasonCode.UNSUPPORTED_PROTOCOL_VERSION)
        self.assertEqual((failure.protocol_name, failure.protocol_level), ("MQIsdp", 3))

    def test_reserved_flag(self) -> None:
        """
        The reserved connect flag must be 0 (MQTT-3.1.2-3).
        """
        self.assertMalformed("10 0f 0004 4d515454 04 03 003c 0003 616263", None)

    def test_will_qos_without_will(self) -> None:
        """
        Will QoS must be 0 without a will (MQTT-3.1.2-11 of MQTT 5, MQTT-3.1.2-13 of 3.1.1).
        """
        self.assertMalformed("10 0f 0004 4d515454 04 0a 003c 0003 616263", None)

    def test_will_retain_without_will(self) -> None:
        """
        Will retain must be 0 without a will (MQTT-3.1.2-13 of MQTT 5, MQTT-3.1.2-15 of
        3.1.1).
        """
        self.assertMalformed("10 10 0004 4d515454 05 22 003c 00 0003 616263", None)

    def test_will_qos_3(self) -> None:
        """
        Will QoS 3 is malformed (MQTT-3.1.2-12 of MQTT 5, MQTT-3.1.2-14 of 3.1.1).
        """
        self.assertMalformed("10 13 0004 4d515454 04 1e 003c 0001 63 0001 77 0001 78", None)

    def test_will_fields_missing(self) -> None:
        """
        With the will flag set, the will topic and payload must be present (MQTT-3.1.2-9).
        """
        self.assertMalformed("10 0d 0004 4d515454 04 06 003c 0001 63", None)

    def test_will_topic_wildcard(self) -> None:
        """
        A will topic is a topic name, so it cannot hold wildcards.
        """
        self.assertMalformed("10 13 0004 4d515454 04 06 003c 0001 63 0001 23 0001 78", None,
                             PROTOCOL_ERROR)

    def test_password_without_username_3_1_1(self) -> None:
        """
        MQTT 3.1.1 forbids a password without a user name (MQTT-3.1.2-22 of 3.1.1), and
        L{encode} refuses to write one.
        """
        self.assertMalformed("10 10 0004 4d515454 04 42 0000 0001 63 0001 70", None)
        self.assertRaises(ValueError, encode,
                          Connect("c", password=b"p", protocol_level=MQTT_3_1_1), MQTT_3_1_1)

    def test_username_flag_without_username(self) -> None:
        """
        With the user name flag set the user name must be present (MQTT-3.1.2-17).
        """
        self.assertMalformed("10 0f 0004 4d515454 04 82 003c 0003 616263", None)

    def test_level_mismatch_on_encode(self) -> None:
        """
        A CONNECT cannot be encoded for a level other than its own.
        """
        self.assertRaises(ValueError, encode, Connect("c"), MQTT_3_1_1)

    def test_connack_errors(self) -> None:
        """
        CONNACK reserved flags must be 0 (section 3.2.2.1), session present needs return code 0
        (MQTT-3.2.2-4 of 3.1.1, MQTT-3.2.2-6 of 5), and 3.1.1 return codes stop at 5.
        """
        self.assertMalformed("20 02 02 00", MQTT_3_1_1)
        self.assertMalformed("20 02 01 05", MQTT_3_1_1, PROTOCOL_ERROR)
        self.assertMalformed("20 02 00 06", MQTT_3_1_1)
        self.assertMalformed("20 03 00 01 00", MQTT_5, PROTOCOL_ERROR)


class PublishTests(CodecTestCase):
    """
    Malformed PUBLISH packets.
    """

    def test_qos_3(self) -> None:
        """
        Both QoS bits set is malformed (MQTT-3.3.1-4).
        """
        self.assertMalformed("36 07 0001 74 0001 00 78", MQTT_5)

    def test_dup_on_qos0(self) -> None:
        """
        The DUP flag must be 0 on QoS 0 messages (MQTT-3.3.1-2).
        """
        self.assertMalformed("38 03 0001 74", MQTT_3_1_1, PROTOCOL_ERROR)
        self.assertRaises(ValueError, encode, Publish("t", dup=True), MQTT_3_1_1)

    def test_packet_id_zero(self) -> None:
        """
        QoS 1 and 2 PUBLISH need a non-zero packet identifier (MQTT-2.2.1-3 of MQTT 5,
        MQTT-2.3.1-1 of 3.1.1); so do acknowledgements, SUBSCRIBE and UNSUBSCRIBE.
        """
        self.assertMalformed("32 05 0001 74 0000", MQTT_3_1_1, PROTOCOL_ERROR)
        self.assertMalformed("40 02 0000", MQTT_5, PROTOCOL_ERROR)
        self.assertMalformed("82 06 0000 0001 61 00", MQTT_3_1_1, PROTOCOL_ERROR)
        self.assertRaises(ValueError, encode, Publish("t", qos=1), MQTT_5)
        self.assertRaises(ValueError, encode, PubAck(0), MQTT_5)

    def test_wildcard_in_topic(self) -> None:
        """
        A topic name cannot contain wildcards (MQTT-3.3.2-2).
        """
        self.assertMalformed("30 05 0003 612f2b", MQTT_3_1_1, PROTOCOL_ERROR)
        self.assertMalformed("30 04 0001 23 00", MQTT_5, PROTOCOL_ERROR)

    def test_empty_topic(self) -> None:
        """
        A topic name has at least one character (MQTT-4.7.3-1) unless MQTT 5 gives a Topic
        Alias instead.
        """
        self.assertMalformed("30 02 0000", MQTT_3_1_1, PROTOCOL_ERROR)
        self.assertMalformed("30 03 0000 00", MQTT_5, PROTOCOL_ERROR)

    def test_response_topic_wildcard(self) -> None:
        """
        A Response Topic cannot contain wildcards (MQTT-3.3.2-14).
        """
        self.assertMalformed("30 08 0001 74 04 0800012b", MQTT_5, PROTOCOL_ERROR)


class SubscriptionTests(CodecTestCase):
    """
    Malformed SUBSCRIBE, UNSUBSCRIBE and their acknowledgements.
    """

    def test_no_filters(self) -> None:
        """
        A SUBSCRIBE without topic filters is a protocol violation (MQTT-3.8.3-3 of 3.1.1,
        MQTT-3.8.3-2 of 5); so is an UNSUBSCRIBE without (MQTT-3.10.3-2).
        """
        self.assertMalformed("82 02 0001", MQTT_3_1_1, PROTOCOL_ERROR)
        self.assertMalformed("82 03 0001 00", MQTT_5, PROTOCOL_ERROR)
        self.assertMalformed("a2 02 0001", MQTT_3_1_1, PROTOCOL_ERROR)
        self.assertRaises(ValueError, encode, Subscribe(1, []), MQTT_5)

    def test_reserved_option_bits(self) -> None:
        """
        Reserved bits of the options byte must be 0 (MQTT-3.8.3-4 of 3.1.1, MQTT-3.8.3-5 of
        5); 3.1.1 reserves the bits MQTT 5 uses for No Local and the rest.
        """
        self.assertMalformed("82 06 0001 0001 61 04", MQTT_3_1_1)
        self.assertMalformed("82 07 0001 00 0001 61 40", MQTT_5)

    def test_option_values(self) -> None:
        """
        QoS 3 and Retain Handling 3 are refused (MQTT-3.8.3-4 of 3.1.1, section 3.8.3.1).
        """
        self.assertMalformed("82 06 0001 0001 61 03", MQTT_3_1_1, PROTOCOL_ERROR)
        self.assertMalformed("82 07 0001 00 0001 61 30", MQTT_5, PROTOCOL_ERROR)

    def test_options_3_1_1_keep_qos_only(self) -> None:
        """
        MQTT 3.1.1 subscription options carry only the QoS.
        """
        options = SubscriptionOptions(2, True, True, RetainHandling.DO_NOT_SEND)
        data = encode(Subscribe(1, [("a", options)]), MQTT_3_1_1)
        self.assertEqual(data, unhex("82 06 0001 0001 61 02"))

    def test_suback_codes(self) -> None:
        """
        MQTT 3.1.1 SUBACK return codes are 0, 1, 2 and 0x80 only (MQTT-3.9.3-2); an MQTT 5
        failure is written as 0x80 for a 3.1.1 peer.
        """
        self.assertMalformed("90 03 0001 03", MQTT_3_1_1, PROTOCOL_ERROR)
        data = encode(SubAck(1, [ReasonCode.NOT_AUTHORIZED, 2]), MQTT_3_1_1)
        self.assertEqual(data, unhex("90 04 0001 80 02"))

    def test_wrong_reason_codes(self) -> None:
        """
        A reason code that the packet type does not define is refused, when decoding and
        when encoding (MQTT 5 section 2.4).
        """
        self.assertMalformed("40 03 0001 92", MQTT_5, PROTOCOL_ERROR)
        self.assertMalformed("b0 04 0001 00 02", MQTT_5, PROTOCOL_ERROR)
        self.assertMalformed("e0 01 92", MQTT_5, PROTOCOL_ERROR)
        self.assertRaises(ValueError, encode, PubAck(1, ReasonCode.GRANTED_QOS_1), MQTT_5)
        self.assertRaises(ValueError, encode, UnsubAck(1, [0x92]), MQTT_5)

    def test_ack_without_codes(self) -> None:
        """
        An MQTT 5 SUBACK or UNSUBACK answers every topic filter, so it has reason codes.
        """
        self.assertMalformed("90 03 0001 00", MQTT_5, PROTOCOL_ERROR)
        self.assertMalformed("b0 03 0001 00", MQTT_5, PROTOCOL_ERROR)


class PropertyWireTests(CodecTestCase):
    """
    Property lists on the wire.
    """

    def test_duplicate(self) -> None:
        """
        A property that may appear once is a protocol error when repeated (MQTT 5 section
        2.2.2.2), as is a second Subscription Identifier in SUBSCRIBE (section 3.8.2.1.2).
        """
        self.assertMalformed("30 0a 0001 74 06 230001 230002", MQTT_5, PROTOCOL_ERROR)
        self.assertMalformed("82 0b 0001 04 0b01 0b02 0001 61 00", MQTT_5, PROTOCOL_ERROR)
        self.assertRaises(ValueError, encode, Subscribe(
            1, [("a", SubscriptionOptions())], Properties(subscription_identifiers=[1, 2])),
            MQTT_5)

    def test_not_allowed_in_packet(self) -> None:
        """
        A property outside the packets the table lists for it is a protocol error, and
        L{encode} refuses it.
        """
        self.assertMalformed("10 13 0004 4d515454 05 02 003c 03 230001 0003 616263", None,
                             PROTOCOL_ERROR)
        self.assertRaises(ValueError, encode,
                          Connect("c", properties=Properties(topic_alias=1)), MQTT_5)

    def test_unknown_identifier(self) -> None:
        """
        A property identifier that MQTT 5 does not define is malformed.
        """
        self.assertMalformed("30 06 0001 74 02 0500", MQTT_5)

    def test_values(self) -> None:
        """
        Values the specification forbids are protocol errors: Topic Alias 0 (section
        3.3.2.3.4), Receive Maximum 0 (3.1.2.11.3), Maximum QoS 2 (3.2.2.3.4), Subscription
        Identifier 0 (3.8.2.1.2).
        """
        self.assertMalformed("30 07 0001 74 03 230000", MQTT_5, PROTOCOL_ERROR)
        self.assertMalformed("20 06 00 00 03 210000", MQTT_5, PROTOCOL_ERROR)
        self.assertMalformed("20 05 00 00 02 2402", MQTT_5, PROTOCOL_ERROR)
        self.assertMalformed("82 09 0001 02 0b00 0001 61 00", MQTT_5, PROTOCOL_ERROR)

    def test_overrun(self) -> None:
        """
        A property length past the end of the packet, or a property value past the property
        length, is malformed.
        """
        self.assertMalformed("30 04 0001 74 09", MQTT_5)
        self.assertMalformed("30 07 0001 74 01 230001", MQTT_5)

    def test_3_1_1_has_no_properties(self) -> None:
        """
        Encoding for MQTT 3.1.1 leaves out properties and the reason codes of
        acknowledgements and DISCONNECT; AUTH does not exist there.
        """
        properties = Properties(user_properties=[("a", "b")])
        self.assertEqual(encode(Publish("t", b"", properties=properties), MQTT_3_1_1),
                         unhex("30 03 0001 74"))
        self.assertEqual(encode(PubAck(1, ReasonCode.NOT_AUTHORIZED, properties), MQTT_3_1_1),
                         unhex("40 02 0001"))
        self.assertEqual(encode(Disconnect(ReasonCode.SERVER_BUSY), MQTT_3_1_1), unhex("e0 00"))
        self.assertEqual(encode(UnsubAck(1, [0x11]), MQTT_3_1_1), unhex("b0 02 0001"))
        self.assertRaises(ValueError, encode, Auth(), MQTT_3_1_1)

    def test_connack_return_codes_3_1_1(self) -> None:
        """
        An MQTT 5 CONNACK reason code becomes the closest 3.1.1 return code.
        """
        expected = {ReasonCode.UNSUPPORTED_PROTOCOL_VERSION: 1,
                    ReasonCode.CLIENT_IDENTIFIER_NOT_VALID: 2,
                    ReasonCode.SERVER_UNAVAILABLE: 3, ReasonCode.BAD_USER_NAME_OR_PASSWORD: 4,
                    ReasonCode.NOT_AUTHORIZED: 5, ReasonCode.UNSPECIFIED_ERROR: 3}
        for reason, code in expected.items():
            self.assertEqual(encode(ConnAck(False, reason), MQTT_3_1_1)[3], code)


class PropertiesValueTests(TestCase):
    """
    L{Properties} as a Python value.
    """

    def test_attributes(self) -> None:
        """
        Every property is an attribute: its value, or C{None} (an empty tuple for repeatable
        ones) when absent; other names raise L{AttributeError}.
        """
        properties = Properties(topic_alias=3)
        self.assertEqual(properties.topic_alias, 3)
        self.assertIsNone(properties.content_type)
        self.assertEqual(properties.user_properties, ())
        self.assertEqual(properties.subscription_identifiers, ())
        self.assertRaises(AttributeError, getattr, properties, "colour")

    def test_mapping(self) -> None:
        """
        Properties are a read-only mapping of the properties present, equal and hashable by
        value.
        """
        properties = Properties(content_type="a", user_properties=[["k", "v"]])
        self.assertEqual(dict(properties),
                         {"content_type": "a", "user_properties": (("k", "v"),)})
        self.assertEqual(properties, Properties(content_type="a", user_properties=[("k", "v")]))
        self.assertEqual(len({properties, Properties(content_type="a",
                                                     user_properties=[("k", "v")])}), 1)
        self.assertFalse(NO_PROPERTIES)
        self.assertRaises(AttributeError, setattr, properties, "content_type", "b")

    def test_pickle(self) -> None:
        """
        Properties, and packets holding them, survive pickling (for example in a database).
        """
        packet = Publish("t", b"x", properties=Properties(user_properties=[("k", "v")]))
        self.assertEqual(pickle.loads(pickle.dumps(packet)), packet)
        self.assertEqual(copy.deepcopy(packet.properties), packet.properties)

    def test_replace(self) -> None:
        """
        L{Properties.replace} returns a copy with properties set or, given C{None}, removed.
        """
        properties = Properties(topic_alias=3, content_type="a")
        changed = properties.replace(topic_alias=None, response_topic="r")
        self.assertEqual(changed, Properties(content_type="a", response_topic="r"))
        self.assertEqual(properties.topic_alias, 3)
        self.assertRaises(ValueError, properties.replace, colour=None)

    def test_invalid(self) -> None:
        """
        Unknown names, values of the wrong type or range, and forbidden values raise
        L{ValueError} with a message naming the property.
        """
        for values in ({"colour": 1}, {"topic_alias": 70000}, {"topic_alias": 0},
                       {"content_type": b"x"}, {"correlation_data": "x"},
                       {"user_properties": [("k",)]}, {"subscription_identifiers": [2**28]},
                       {"subscription_identifiers": 5},
                       {"maximum_qos": 2}):
            error = self.assertRaises(ValueError, Properties, **values)
            self.assertIn(next(iter(values)), str(error))


class EncodeErrorTests(TestCase):
    """
    L{encode} refuses packets that would break the protocol.
    """

    def test_invalid_qos(self) -> None:
        """
        QoS 3 cannot be written in a PUBLISH, a will or a subscription, nor retain handling 3.
        """
        self.assertRaises(ValueError, encode, Publish("t", qos=3, packet_id=1), MQTT_5)
        self.assertRaises(ValueError, encode, Connect("c", will=Will("w", qos=3)), MQTT_5)
        for options in (SubscriptionOptions(3), SubscriptionOptions(retain_handling=3)):
            self.assertRaises(ValueError, encode, Subscribe(1, [("a", options)]), MQTT_5)

    def test_not_a_packet(self) -> None:
        """
        Anything but a packet raises L{TypeError}.
        """
        self.assertRaises(TypeError, encode, object(), MQTT_5)

    def test_too_large(self) -> None:
        """
        Binary data longer than 65535 bytes cannot be written (MQTT 5 section 1.5.6).
        """
        self.assertRaises(ValueError, encode, PubAck(1, properties=Properties(
            reason_string="x" * 70000)), MQTT_5)
        self.assertRaises(ValueError, encode, Connect("c", password=b"p" * 70000), MQTT_5)
