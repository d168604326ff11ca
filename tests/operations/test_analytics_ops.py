"""
Tests for L{harper.operations.analytics_ops}: REST requests recorded, flushed and read back
with C{get_analytics}; C{list_metrics}.
"""

from __future__ import annotations

import treq
from twisted.internet import reactor

from harper.http.rest import RestAPI
from harper.http.site import make_site
from tests.operations.helpers import ADMIN, OperationsCase


class AnalyticsTests(OperationsCase):
    """
    A REST listener records into the runtime's analytics.
    """

    async def setUp(self) -> None:
        await super().setUp()
        runtime = self.runtime
        rest = RestAPI(runtime.registry, runtime.caller, 1 << 20,
                       authenticate=runtime.access.authenticator.authenticate, analytics=runtime.analytics)
        port = reactor.listenTCP(0, make_site(rest), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.rest_url = f"http://127.0.0.1:{port.getHost().port}/"

    async def rest(self, method: str, path: str, **options: object) -> int:
        response = await treq.request(method, self.rest_url + path, auth=ADMIN, pool=self.pool, **options)
        await treq.content(response)
        return response.code

    async def test_recorded_and_read(self) -> None:
        """
        Each resource and method gets a record per period with its count and latency
        percentiles; C{start_time}/C{end_time}, C{conditions} and C{get_attributes} select.
        """
        self.assertEqual(await self.rest("PUT", "Dog/1", json={"id": 1, "name": "Rex"}), 204)
        for _ in range(3):
            self.assertEqual(await self.rest("GET", "Dog/1"), 200)
        self.assertEqual(await self.rest("GET", "Breed/"), 200)
        self.assertEqual(await self.runtime.analytics.flush(), 3)
        records = await self.ok({"operation": "get_analytics", "metric": "duration"})
        counts = sorted((r["path"], r["method"], r["count"]) for r in records)
        self.assertEqual(counts, [("Breed", "GET", 1), ("Dog", "GET", 3), ("Dog", "PUT", 1)])
        for record in records:
            self.assertTrue(0 < record["min"] <= record["median"] <= record["p99"] <= record["max"], record)
        selected = await self.ok({"operation": "get_analytics", "metric": "duration", "get_attributes": ["count"],
                                  "conditions": [{"attribute": "path", "comparator": "equals", "value": "Dog"},
                                                 {"attribute": "method", "comparator": "equals", "value": "GET"}]})
        self.assertEqual(selected, [{"count": 3}])
        time = records[0]["time"]
        self.assertEqual(len(await self.ok({"operation": "get_analytics", "metric": "duration",
                                            "start_time": time, "end_time": time})), 3)
        self.assertEqual(await self.ok({"operation": "get_analytics", "metric": "duration",
                                        "start_time": time + 1}), [])
        self.assertEqual(await self.ok({"operation": "get_analytics", "metric": "other"}), [])

    async def test_bad_input(self) -> None:
        """
        Missing or malformed fields are 400s naming them; non-super users get 403s.
        """
        cases = [
            ({}, "metric: required"),
            ({"metric": 3}, "metric: expected text"),
            ({"metric": "duration", "start_time": "today"}, "start_time: expected epoch milliseconds"),
            ({"metric": "duration", "start_time": 2, "end_time": 1}, "start_time: must not be after end_time"),
            ({"metric": "duration", "conditions": [{"attribute": "path"}]}, "conditions[0].comparator: required"),
            ({"metric": "duration", "get_attributes": "count"}, "get_attributes: expected a list"),
        ]
        for fields, message in cases:
            error = await self.refused({"operation": "get_analytics", **fields}, 400)
            self.assertTrue(error.startswith(message), (fields, error))
        reader = await self.add_reader()
        await self.refused({"operation": "get_analytics", "metric": "duration"}, 403, reader)
        await self.refused({"operation": "list_metrics"}, 403, reader)

    async def test_list_metrics(self) -> None:
        """
        The builtin metrics by default; no custom ones; unknown types are 400s.
        """
        self.assertEqual(await self.ok({"operation": "list_metrics"}), ["duration"])
        self.assertEqual(await self.ok({"operation": "list_metrics", "metric_types": ["custom"]}), [])
        message = await self.refused({"operation": "list_metrics", "metric_types": ["mine"]}, 400)
        self.assertTrue(message.startswith("metric_types[0]: 'mine' is not one of"))
