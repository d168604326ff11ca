"""
End-to-end tests of the broker with paho-mqtt clients over loopback sockets, for MQTT 3.1.1
and 5.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from harper.resources.base import Resource

from tests.mqtt.helpers import V5, V311, Client, pause, properties, serve, start_runtime


class PlainTopicTests(TestCase):
    """
    Topics without a resource behind them behave like a standard broker's.
    """

    def setUp(self) -> None:
        self.broker, self.port, _ = serve(self)

    @defer.inlineCallbacks
    def check_qos_levels(self, version: int) -> None:
        subscriber = Client(self, self.port, f"sub{version}", version)
        publisher = Client(self, self.port, f"pub{version}", version)
        yield subscriber.connect()
        yield publisher.connect()
        codes = yield subscriber.subscribe("a/+", qos=2)
        self.assertEqual([int(getattr(code, "value", code)) for code in codes], [2])
        for qos in (0, 1, 2):
            yield publisher.publish("a/b", b"m%d" % qos, qos)
        messages = yield subscriber.wait_for(3)
        self.assertEqual([(m[0], m[1], m[2]) for m in messages],
                         [("a/b", b"m0", 0), ("a/b", b"m1", 1), ("a/b", b"m2", 2)])

    def test_qos_levels_v311(self) -> None:
        """
        MQTT 3.1.1: messages of QoS 0, 1 and 2 reach a wildcard subscriber once, in order, at
        the QoS they were published with.
        """
        return self.check_qos_levels(V311)

    def test_qos_levels_v5(self) -> None:
        """
        MQTT 5: the same as for 3.1.1.
        """
        return self.check_qos_levels(V5)

    @defer.inlineCallbacks
    def test_retained(self) -> None:
        """
        A retained message is sent with RETAIN set to later subscribers of a matching filter;
        an empty retained message clears it (MQTT-3.3.1-5 to MQTT-3.3.1-7).
        """
        publisher = Client(self, self.port, "pub", V311)
        yield publisher.connect()
        yield publisher.publish("status/door", b"open", 1, retain=True)
        first = Client(self, self.port, "first", V5)
        yield first.connect()
        yield first.subscribe("status/#")
        messages = yield first.wait_for(1)
        self.assertEqual(messages[0][:4], ("status/door", b"open", 1, True))
        yield publisher.publish("status/door", b"", 1, retain=True)
        second = Client(self, self.port, "second", V5)
        yield second.connect()
        yield second.subscribe("status/#")
        yield pause()
        self.assertEqual(second.messages, [])


class ResourceTopicTests(TestCase):
    """
    Topics naming records of an exported table.
    """

    def setUp(self) -> None:
        self.runtime = start_runtime(self)
        self.broker, self.port, _ = serve(self, self.runtime)
        self.dogs = self.runtime.tables.Dog

    @defer.inlineCallbacks
    def test_resource_write_reaches_subscriber(self) -> None:
        """
        Subscribing to C{Dog/1} first delivers the current record as a retained message, then
        each committed change; C{Dog/#} covers the table.
        """
        yield self.dogs.put(1, {"name": "Rex", "age": 3})
        record = Client(self, self.port, "record", V311, "admin")
        table = Client(self, self.port, "table", V5, "admin")
        yield record.connect()
        yield table.connect()
        yield record.subscribe("Dog/1")
        yield table.subscribe("Dog/#")
        yield self.dogs.put(1, {"name": "Rex", "age": 4})
        yield self.dogs.put(2, {"name": "Max"})
        messages = yield record.wait_for(2)
        self.assertEqual(messages[0][:4], ("Dog/1", b'{"name":"Rex","age":3,"id":1}', 1, True))
        self.assertEqual(messages[1][:2], ("Dog/1", b'{"name":"Rex","age":4,"id":1}'))
        messages = yield table.wait_for(3)
        self.assertEqual([m[0] for m in messages], ["Dog/1", "Dog/1", "Dog/2"])

    @defer.inlineCallbacks
    def test_retained_publish_stores_record(self) -> None:
        """
        A retained PUBLISH to C{Dog/5} is a put of record 5, acknowledged after the commit; an
        empty retained payload deletes it.
        """
        client = Client(self, self.port, "writer", V5, "admin")
        yield client.connect()
        yield client.publish("Dog/5", b'{"name": "Fido", "age": 2}', 1, retain=True)
        stored = yield self.dogs.get(5)
        self.assertEqual(stored["name"], "Fido")
        yield client.publish("Dog/5", b"", 1, retain=True)
        yield self.assertFailure(self.dogs.get(5), Exception)

    @defer.inlineCallbacks
    def test_rejected_publish(self) -> None:
        """
        A retained publish that breaks the schema gets PUBACK 0x83, one by a user without the
        update permission 0x87, a payload that is not JSON 0x99; the record is unchanged.
        """
        yield self.dogs.put(7, {"name": "Rex"})
        admin = Client(self, self.port, "admin", V5, "admin")
        reader = Client(self, self.port, "reader", V5, "reader")
        yield admin.connect()
        yield reader.connect()
        invalid = yield admin.publish("Dog/7", b'{"age": "old"}', 1, retain=True)
        refused = yield reader.publish("Dog/7", b'{"name": "Max"}', 1, retain=True)
        garbled = yield admin.publish("Dog/7", b'{"name": ', 1, retain=True)
        self.assertEqual((invalid, refused, garbled), (0x83, 0x87, 0x99))
        stored = yield self.dogs.get(7)
        self.assertEqual(stored["name"], "Rex")

    @defer.inlineCallbacks
    def test_publish_without_retain_is_a_message(self) -> None:
        """
        A PUBLISH without retain to a record's topic reaches its subscribers (RETAIN clear)
        and does not change the record.
        """
        yield self.dogs.put(3, {"name": "Rex"})
        subscriber = Client(self, self.port, "sub", V5, "admin")
        yield subscriber.connect()
        yield subscriber.subscribe("Dog/3", retainHandling=2)
        publisher = Client(self, self.port, "pub", V311, "admin")
        yield publisher.connect()
        yield publisher.publish("Dog/3", b'{"bark": true}', 1)
        messages = yield subscriber.wait_for(1)
        self.assertEqual(messages[0][:4], ("Dog/3", b'{"bark":true}', 1, False))
        stored = yield self.dogs.get(3)
        self.assertEqual(stored, {"id": 3, "name": "Rex"})

    @defer.inlineCallbacks
    def test_no_local_resource_writes(self) -> None:
        """
        A client subscribed to C{Dog/#} with No Local does not get back the change its own
        retained PUBLISH made, nor its own message to a record (MQTT-3.8.3-3); a subscriber
        without the option gets both, and the client still gets other writers' changes.
        """
        quiet = Client(self, self.port, "quiet", V5, "admin")
        echo = Client(self, self.port, "echo", V5, "admin")
        yield quiet.connect()
        yield echo.connect()
        yield quiet.subscribe("Dog/#", noLocal=True)
        yield echo.subscribe("Dog/#")
        yield quiet.publish("Dog/4", b'{"name": "Own"}', 1, retain=True)
        yield quiet.publish("Dog/4", b'{"bark": true}', 1)
        yield self.dogs.put(5, {"name": "Other"})
        messages = yield quiet.wait_for(1)
        self.assertEqual(messages[0][:2], ("Dog/5", b'{"name":"Other","id":5}'))
        messages = yield echo.wait_for(3)
        self.assertEqual([m[0] for m in messages], ["Dog/4", "Dog/4", "Dog/5"])
        yield pause()
        self.assertEqual(len(quiet.messages), 1)

    @defer.inlineCallbacks
    def test_cbor_content_type(self) -> None:
        """
        An MQTT 5 payload whose content type is CBOR is decoded as CBOR.
        """
        import cbor2

        client = Client(self, self.port, "cbor", V5, "admin")
        yield client.connect()
        code = yield client.publish("Dog/9", cbor2.dumps({"name": "Bo"}), 1, retain=True,
                                    properties=properties(ContentType="application/cbor"))
        self.assertEqual(code, 0)
        stored = yield self.dogs.get(9)
        self.assertEqual(stored["name"], "Bo")

    @defer.inlineCallbacks
    def test_anonymous_cannot_read_tables(self) -> None:
        """
        A client without a user may use plain topics but not subscribe to a table (SUBACK
        0x87), nor receive its changes through a broader filter.
        """
        client = Client(self, self.port, "anonymous", V5)
        yield client.connect()
        codes = yield client.subscribe("Dog/#")
        self.assertEqual([int(code.value) for code in codes], [0x87])
        yield client.subscribe("#")
        yield self.dogs.put(1, {"name": "Rex"})
        yield pause()
        self.assertEqual(client.messages, [])


class SessionTests(TestCase):
    """
    Sessions, wills and the MQTT 5 message features, over a runtime's durable store.
    """

    def setUp(self) -> None:
        self.runtime = start_runtime(self)
        self.broker, self.port, self.service = serve(self, self.runtime)

    @defer.inlineCallbacks
    def check_offline_queue(self, version: int, clean: bool, expiry: object) -> None:
        subscriber = Client(self, self.port, f"durable{version}", version)
        yield subscriber.connect(clean=clean, properties=expiry)
        yield subscriber.subscribe("jobs/#", qos=2)
        yield subscriber.disconnect()
        publisher = Client(self, self.port, "pub", version)
        yield publisher.connect()
        for number in range(3):
            yield publisher.publish(f"jobs/{number}", b"job", 2)
        yield publisher.publish("jobs/x", b"dropped", 0)
        again = Client(self, self.port, f"durable{version}", version)
        flags, _, _ = yield again.connect(clean=False, properties=expiry)
        self.assertTrue(flags.session_present)
        messages = yield again.wait_for(3)
        yield pause()
        self.assertEqual([m[0] for m in again.messages], ["jobs/0", "jobs/1", "jobs/2"])
        self.assertEqual({m[2] for m in messages}, {2})

    def test_offline_queue_v311(self) -> None:
        """
        MQTT 3.1.1, clean session 0: QoS 2 messages published while the client is away are
        delivered once when it comes back, QoS 0 ones are not kept.
        """
        return self.check_offline_queue(V311, False, None)

    def test_offline_queue_v5(self) -> None:
        """
        MQTT 5, session expiry interval: the same.
        """
        from paho.mqtt.packettypes import PacketTypes

        return self.check_offline_queue(V5, True, properties(PacketTypes.CONNECT, SessionExpiryInterval=60))

    @defer.inlineCallbacks
    def test_session_survives_restart(self) -> None:
        """
        A persistent session and its queued messages, and retained messages, are stored: a new
        broker over the same database resumes them.
        """
        subscriber = Client(self, self.port, "keeper", V311)
        yield subscriber.connect(clean=False)
        yield subscriber.subscribe("news", qos=1)
        yield subscriber.disconnect()
        publisher = Client(self, self.port, "pub", V311)
        yield publisher.connect()
        yield publisher.publish("news", b"while away", 1)
        yield publisher.publish("weather", b"sunny", 1, retain=True)
        yield publisher.disconnect()
        yield self.service.stopService()
        self.runtime.stop()
        runtime = start_runtime(self, root=self.runtime.root)
        _, port, _ = serve(self, runtime)
        again = Client(self, port, "keeper", V311)
        flags, _, _ = yield again.connect(clean=False)
        self.assertTrue(flags.session_present)
        messages = yield again.wait_for(1)
        self.assertEqual(messages[0][:3], ("news", b"while away", 1))
        yield again.subscribe("weather")
        messages = yield again.wait_for(2)
        self.assertEqual(messages[1][:4], ("weather", b"sunny", 1, True))

    @defer.inlineCallbacks
    def test_will_on_abrupt_disconnect(self) -> None:
        """
        The will is published when the connection closes without DISCONNECT, not after a
        normal DISCONNECT.
        """
        watcher = Client(self, self.port, "watcher", V5)
        yield watcher.connect()
        yield watcher.subscribe("status/+")
        polite = Client(self, self.port, "polite", V311)
        yield polite.connect(will=("status/polite", b"gone", 1, False))
        yield polite.disconnect()
        rude = Client(self, self.port, "rude", V5)
        yield rude.connect(will=("status/rude", b"gone", 1, False))
        yield rude.drop()
        yield watcher.wait_for(1)
        yield pause()
        self.assertEqual([m[:2] for m in watcher.messages], [("status/rude", b"gone")])

    @defer.inlineCallbacks
    def test_shared_subscription(self) -> None:
        """
        Members of a shared subscription get the group's messages in turn.
        """
        members = [Client(self, self.port, f"member{n}", V5) for n in range(2)]
        for member in members:
            yield member.connect()
            yield member.subscribe("$share/workers/tasks/#")
        publisher = Client(self, self.port, "pub", V5)
        yield publisher.connect()
        for number in range(10):
            yield publisher.publish(f"tasks/{number}", b"t", 1)
        yield members[0].wait_for(5)
        yield members[1].wait_for(5)
        yield pause()
        self.assertEqual([len(member.messages) for member in members], [5, 5])

    @defer.inlineCallbacks
    def test_topic_aliases_and_expiry(self) -> None:
        """
        A publisher's topic alias stands for its topic; the server sets its own aliases for a
        subscriber that allows them, and forwards the remaining message expiry interval.
        """
        from paho.mqtt.packettypes import PacketTypes

        subscriber = Client(self, self.port, "sub", V5)
        yield subscriber.connect(properties=properties(PacketTypes.CONNECT, TopicAliasMaximum=4))
        yield subscriber.subscribe("long/topic/name")
        publisher = Client(self, self.port, "pub", V5)
        yield publisher.connect()
        yield publisher.publish("long/topic/name", b"1", 1, properties=properties(TopicAlias=1))
        yield publisher.publish("", b"2", 1, properties=properties(TopicAlias=1, MessageExpiryInterval=30))
        messages = yield subscriber.wait_for(2)
        self.assertEqual([(m[0], m[1]) for m in messages], [("long/topic/name", b"1"), ("", b"2")])
        self.assertEqual([m[4].TopicAlias for m in messages], [1, 1])
        self.assertIn(messages[1][4].MessageExpiryInterval, (29, 30))


class Feed(Resource):
    """
    A custom resource with its own subscriptions.
    """

    def __init__(self) -> None:
        self.listeners: dict[object, object] = {}
        self.closed = 0

    def subscribe(self, target, context, listener):
        feed = self

        class Subscription:
            def close(self) -> None:
                feed.closed += 1
                del feed.listeners[target.id]

        self.listeners[target.id] = listener
        return Subscription()


class CustomResourceTests(TestCase):
    """
    Topics of custom resources that implement C{subscribe}.
    """

    def setUp(self) -> None:
        self.runtime = start_runtime(self)
        self.feed = Feed()
        self.runtime.registry.register("Feed", self.feed)
        self.broker, self.port, _ = serve(self, self.runtime)

    @defer.inlineCallbacks
    def test_subscribe(self) -> None:
        """
        Subscribing to C{Feed/news} calls the resource's C{subscribe} for that id; what it
        sends arrives on the topic; unsubscribing closes its subscription.
        """
        client = Client(self, self.port, "reader", V5, "admin")
        yield client.connect()
        yield client.subscribe("Feed/news")
        self.feed.listeners["news"]({"headline": "hi"})
        messages = yield client.wait_for(1)
        self.assertEqual(messages[0][:2], ("Feed/news", b'{"headline":"hi"}'))
        yield deferToThread(client.client.unsubscribe, "Feed/news")
        yield pause()
        self.assertEqual((self.feed.closed, self.feed.listeners), (1, {}))
