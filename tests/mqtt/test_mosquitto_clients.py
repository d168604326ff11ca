"""
End-to-end tests with Debian's C{mosquitto_pub} and C{mosquitto_sub} as independent clients
(installed by C{make test} through C{.ci/debian.sh}; the tests fail where they are missing).
"""

from __future__ import annotations

import os
import shutil

from twisted.internet import defer, reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.mqtt.helpers import serve, start_runtime

_MISSING = None if shutil.which("mosquitto_pub") and shutil.which("mosquitto_sub") else (
    "mosquitto_pub and mosquitto_sub are not installed (apt-get install mosquitto-clients)")


class MosquittoClientTests(TestCase):
    """
    The mosquitto command-line clients against the broker, over both protocol versions.
    """

    timeout = 20

    def setUp(self) -> None:
        if _MISSING:
            self.fail(_MISSING)
        self.runtime = start_runtime(self)
        self.broker, self.port, _ = serve(self, self.runtime)

    def run_client(self, program: str, *arguments: str) -> defer.Deferred:
        common = ("-h", "127.0.0.1", "-p", str(self.port), "-u", "admin", "-P", "secret")
        return getProcessOutputAndValue(shutil.which(program), common + arguments, env=dict(os.environ),
                                        reactor=reactor)

    @defer.inlineCallbacks
    def test_publish_then_subscribe(self) -> None:
        """
        A retained record written by mosquitto_pub (MQTT 3.1.1) is stored, and mosquitto_sub
        (MQTT 5) receives it as the topic's retained message.
        """
        out, err, code = yield self.run_client("mosquitto_pub", "-V", "311", "-q", "1", "-r",
                                               "-t", "Dog/8", "-m", '{"name": "Pub"}')
        self.assertEqual(code, 0, err)
        stored = yield self.runtime.tables.Dog.get(8)
        self.assertEqual(stored["name"], "Pub")
        out, err, code = yield self.run_client("mosquitto_sub", "-V", "5", "-C", "1", "-W", "5",
                                               "-t", "Dog/8", "-v")
        self.assertEqual((code, out), (0, b'Dog/8 {"name":"Pub","id":8}\n'), err)

    @defer.inlineCallbacks
    def test_plain_retained(self) -> None:
        """
        A retained message on a plain topic reaches a later mosquitto_sub with a wildcard.
        """
        out, err, code = yield self.run_client("mosquitto_pub", "-V", "5", "-q", "2", "-r",
                                               "-t", "sensors/1", "-m", "21.5")
        self.assertEqual(code, 0, err)
        out, err, code = yield self.run_client("mosquitto_sub", "-V", "311", "-C", "1", "-W", "5",
                                               "-t", "sensors/+", "-v")
        self.assertEqual((code, out), (0, b"sensors/1 21.5\n"), err)

    @defer.inlineCallbacks
    def test_bad_password(self) -> None:
        """
        mosquitto_pub with a wrong password is refused.
        """
        out, err, code = yield getProcessOutputAndValue(
            shutil.which("mosquitto_pub"),
            ("-h", "127.0.0.1", "-p", str(self.port), "-u", "admin", "-P", "wrong", "-t", "x", "-m", "1"),
            env=dict(os.environ), reactor=reactor)
        self.assertNotEqual(code, 0)
