"""
Fixtures of the MQTT tests: a started runtime with a small schema, a broker listening on a
loopback port, and paho-mqtt clients driven from the trial reactor.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties as PahoProperties
from paho.mqtt.packettypes import PacketTypes
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from harper.auth.roles import Role, User
from harper.components.application import Application
from harper.components.config import config_from_string
from harper.components.runtime import ApplicationTables, Runtime
from harper.mqtt.broker import Broker
from harper.mqtt.service import BrokerService, build_broker
from harper.mqtt.session import SessionSettings
from harper.schema.sdl import parse_schema

SCHEMA = """
type Dog @table @export {
  id: Int @primaryKey
  name: String!
  age: Int
}
type Note @table {
  id: ID @primaryKey
  text: String
}
"""

#: A user allowed everything, and one who may only read dogs.
ADMIN = User("admin", Role("super_user", "super_user", {"super_user": True}))
READER = User("reader", Role("reader", "reader", {"data": {"tables": {"Dog": {"read": True}}}}))
USERS = {("admin", b"secret"): ADMIN, ("reader", b"secret"): READER}

V311 = paho.MQTTv311
V5 = paho.MQTTv5


def authenticate(username: str, password: bytes, address: str) -> Deferred:
    """
    The test users: C{admin} and C{reader}, password C{secret}.
    """
    return succeed(USERS.get((username, password)))


def start_runtime(case: TestCase, root: Optional[str] = None, config: str = "") -> Runtime:
    """
    A started runtime over FileStorage in C{root} (a new temporary folder by default), with
    the C{Dog} table exported; stopped when the test ends.
    """
    root = root or case.mktemp()
    settings = config_from_string("storage: {threadPoolSize: 2}\n" + config, base_dir=".",
                                  root=root, environ={})
    application = Application(".", settings)
    planned = [ApplicationTables(application, parse_schema([("kennel.graphql", SCHEMA)]))]
    runtime = Runtime(settings, planned, reactor)
    runtime.start()
    runtime.root = root
    case.addCleanup(runtime.stop)
    return runtime


def serve(case: TestCase, runtime: Optional[Runtime] = None, settings: SessionSettings = SessionSettings(),
          require_authentication: bool = False) -> tuple[Broker, int, BrokerService]:
    """
    Start a broker (over C{runtime} when given) listening on a loopback port; return it, the
    port number and its service. Everything stops when the test ends.
    """
    if runtime is not None:
        broker = build_broker(runtime, reactor, settings, authenticate)
        broker._require_authentication = require_authentication
    else:
        broker = Broker(reactor, authenticate=authenticate,
                        require_authentication=require_authentication, settings=settings)
    service = BrokerService(broker, runtime.feed if runtime is not None else None)
    service.startService()
    port = reactor.listenTCP(0, service.factory(), interface="127.0.0.1")
    case.addCleanup(port.stopListening)
    case.addCleanup(lambda: service.stopService() if service.running else None)
    return broker, port.getHost().port, service


class Client:
    """
    A paho-mqtt client running its network loop in a thread; its blocking calls run in the
    reactor's thread pool, so tests yield Deferreds.

    :param paho_class: the paho client class (a subclass, to connect in a special way).
    :ivar messages: (topic, payload, qos, retain, properties) of every message received.
    :ivar arrivals: the C{time.monotonic()} at which each of them arrived.
    """

    def __init__(self, case: TestCase, port: int, client_id: str, version: int = V5,
                 username: Optional[str] = None, password: Optional[str] = "secret",
                 paho_class: type = paho.Client) -> None:
        self.port = port
        self.version = version
        self.client = paho_class(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version,
                                 reconnect_on_failure=False)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.messages: list[tuple[str, bytes, int, bool, Any]] = []
        self.arrivals: list[float] = []
        self.connack: Optional[tuple[Any, Any, Any]] = None
        self.disconnected = threading.Event()
        self.subacks: list[Any] = []
        self._lock = threading.Lock()
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, codes, props: self.subacks.append(codes)
        self.client.on_disconnect = lambda *args: self.disconnected.set()
        self.acks: dict[int, int] = {}
        self.client.on_publish = self._on_publish
        case.addCleanup(self.stop)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.arrivals.append(time.monotonic())
            self.messages.append((message.topic, message.payload, message.qos, bool(message.retain),
                                  getattr(message, "properties", None)))

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        self.acks[mid] = int(getattr(reason, "value", reason))

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connack = (flags, reason, properties)

    def connect(self, clean: bool = True, properties: Optional[PahoProperties] = None,
                keepalive: int = 60, will: Optional[tuple] = None) -> Deferred:
        """
        Connect and wait for CONNACK; fires with (flags, reason code, properties).
        """
        if will is not None:
            self.client.will_set(*will)

        def connect() -> Any:
            self.connack = None
            kwargs: dict[str, Any] = {"keepalive": keepalive}
            if self.version == V5:
                kwargs["clean_start"] = clean
                kwargs["properties"] = properties
            else:
                self.client._clean_session = clean
            self.client.connect("127.0.0.1", self.port, **kwargs)
            self.client.loop_start()
            _wait(lambda: self.connack is not None)
            return self.connack

        return deferToThread(connect)

    def subscribe(self, topic: str, qos: int = 1, **options: Any) -> Deferred:
        """
        Subscribe and wait for the SUBACK; fires with its reason codes.
        """
        def subscribe() -> Any:
            count = len(self.subacks)
            if self.version == V5:
                from paho.mqtt.subscribeoptions import SubscribeOptions
                properties = options.pop("properties", None)
                self.client.subscribe(topic, options=SubscribeOptions(qos=qos, **options),
                                      properties=properties)
            else:
                self.client.subscribe(topic, qos)
            _wait(lambda: len(self.subacks) > count)
            return self.subacks[-1]

        return deferToThread(subscribe)

    def publish(self, topic: str, payload: bytes = b"", qos: int = 0, retain: bool = False,
                properties: Optional[PahoProperties] = None) -> Deferred:
        """
        Publish and wait until the QoS flow completes; fires with the reason code of the
        PUBACK or PUBREC (0 for QoS 0 and MQTT 3.1.1).
        """
        def publish() -> Any:
            info = self.client.publish(topic, payload, qos, retain, properties)
            info.wait_for_publish(5)
            _wait(lambda: info.mid in self.acks)
            return self.acks[info.mid]

        return deferToThread(publish)

    def wait_for(self, count: int, timeout: float = 5.0) -> Deferred:
        """
        Fire with the messages once at least C{count} arrived (fails after C{timeout}).
        """
        deadline = time.monotonic() + timeout

        def check(_: Any = None) -> Any:
            if len(self.messages) >= count:
                return list(self.messages)
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} messages arrived, {count} expected: "
                                     f"{self.messages}")
            return deferLater(reactor, 0.01, lambda: None).addCallback(check)

        return check()

    def disconnect(self) -> Deferred:
        """
        Send DISCONNECT and stop the network loop.
        """
        def disconnect() -> None:
            self.client.disconnect()
            self.disconnected.wait(5)
            self.client.loop_stop()

        return deferToThread(disconnect)

    def drop(self) -> Deferred:
        """
        Close the socket without DISCONNECT (an abrupt end).
        """
        def drop() -> None:
            sock = self.client.socket()
            self._halt()
            if sock is not None:
                sock.close()

        return deferToThread(drop)

    def _halt(self) -> None:
        """
        Stop the network loop at once, without waiting for its one-second select.
        """
        self.client._thread_terminate = True
        wake = getattr(self.client, "_sockpairW", None)
        if wake is not None:
            try:
                wake.send(b"0")
            except OSError:
                pass
        self.client.loop_stop()

    def stop(self) -> None:
        sock = self.client.socket()
        self._halt()
        if sock is not None:
            sock.close()


def _wait(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.002)


def properties(packet_type: int = PacketTypes.PUBLISH, **values: Any) -> PahoProperties:
    """
    paho properties for C{packet_type} (paho's names: C{ContentType}, C{MessageExpiryInterval}).
    """
    result = PahoProperties(packet_type)
    for name, value in values.items():
        setattr(result, name, value)
    return result


def pause(seconds: float = 0.05) -> Deferred:
    """
    Let the reactor run for a moment (for "nothing arrives" checks).
    """
    return deferLater(reactor, seconds, lambda: None)
