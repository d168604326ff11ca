"""
Tests for L{harper.operations.audit_ops} over the operations API's socket: C{read_audit_log},
C{read_transaction_log} and the two deletions, their field checks and who may call them.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor

from harper.operations.jobs import jobs_of
from harper.operations.scope import OperationScope
from tests.operations.helpers import OperationsCase


class AuditOperationsTests(OperationsCase):
    """
    The audit operations over a daemon writing its audit log (the default).
    """

    async def setUp(self) -> None:
        await super().setUp()
        await self.ok({"operation": "insert", "table": "Dog", "records": [{"id": 1, "name": "Rex"}, {"id": 2, "name": "Fido"}]})
        await self.ok({"operation": "update", "table": "Dog", "records": [{"id": 1, "age": 3}]})
        await self.ok({"operation": "delete", "table": "Dog", "ids": [2]})

    async def read(self, **fields: Any) -> Any:
        return await self.ok({"operation": "read_audit_log", "table": "Dog", **fields})

    async def test_read_everything(self) -> None:
        """
        Without a search, every audit record of the table, oldest first, each with the user,
        the ids, the records written and the records before an update or a delete.
        """
        records = await self.read()
        self.assertEqual([(r["operation"], r["user_name"], r["hash_values"]) for r in records],
                         [("insert", "admin", [1, 2]), ("update", "admin", [1]), ("delete", "admin", [2])])
        insert, update, delete = records
        self.assertEqual([r["name"] for r in insert["records"]], ["Rex", "Fido"])
        self.assertNotIn("original_records", insert)
        self.assertEqual((update["records"][0]["age"], update["original_records"][0].get("age")), (3, None))
        self.assertNotIn("records", delete)
        self.assertEqual(delete["original_records"][0]["name"], "Fido")
        stamps = [r["timestamp"] for r in records]
        self.assertEqual(stamps, sorted(stamps))

    async def test_by_timestamp(self) -> None:
        """
        C{[from]} gives the records from that time on, C{[from, to]} those between (both
        inclusive).
        """
        stamps = [r["timestamp"] for r in await self.read()]
        since = await self.read(search_type="timestamp", search_values=[stamps[1]])
        self.assertEqual([r["operation"] for r in since], ["update", "delete"])
        between = await self.read(search_type="timestamp", search_values=[stamps[0], stamps[1]])
        self.assertEqual([r["operation"] for r in between], ["insert", "update"])

    async def test_by_hash_value(self) -> None:
        """
        By primary key: an object keyed by each id asked for, with the records of that id only.
        """
        found = await self.read(search_type="hash_value", search_values=[2, 7])
        self.assertEqual(sorted(found), ["2", "7"])
        self.assertEqual(found["7"], [])
        self.assertEqual([r["operation"] for r in found["2"]], ["insert", "delete"])
        self.assertEqual([r["id"] for r in found["2"][0]["records"]], [2])
        self.assertNotIn("hash_values", found["2"][0])

    async def test_by_username(self) -> None:
        """
        By user: an object keyed by each user name asked for.
        """
        found = await self.read(search_type="username", search_values=["admin", "nobody"])
        self.assertEqual([len(found["admin"]), found["nobody"]], [3, []])

    async def test_read_transaction_log(self) -> None:
        """
        The transaction log: C{operation}, C{user}, C{timestamp} and the records (the ids of a
        delete), bounded by C{from}/C{to} and C{limit}.
        """
        log = await self.ok({"operation": "read_transaction_log", "table": "Dog"})
        self.assertEqual([(t["operation"], t["user"]) for t in log],
                         [("insert", "admin"), ("update", "admin"), ("delete", "admin")])
        self.assertEqual(log[2]["hash_values"], [2])
        limited = await self.ok({"operation": "read_transaction_log", "table": "Dog", "from": log[1]["timestamp"], "limit": 1})
        self.assertEqual(limited, [log[1]])
        until = await self.ok({"operation": "read_transaction_log", "table": "Dog", "to": log[0]["timestamp"]})
        self.assertEqual(until, [log[0]])

    async def test_delete_before(self) -> None:
        """
        C{delete_audit_logs_before} starts a job removing the entries older than C{timestamp};
        C{delete_transaction_logs_before} removes from the same log.
        """
        stamps = [r["timestamp"] for r in await self.read()]
        jobs = jobs_of(OperationScope.of_runtime(self.runtime, reactor))
        answer = await self.ok({"operation": "delete_audit_logs_before", "table": "Dog", "timestamp": stamps[2]})
        self.assertEqual(answer["message"], f"Starting job with id {answer['job_id']}")
        await jobs.finished(answer["job_id"])
        self.assertEqual([r["operation"] for r in await self.read()], ["delete"])
        job = await jobs.get(answer["job_id"])
        self.assertEqual((job["status"], job["type"]), ("COMPLETE", "delete_audit_logs_before"))
        answer = await self.ok({"operation": "delete_transaction_logs_before", "table": "Dog", "timestamp": stamps[2] + 1})
        await jobs.finished(answer["job_id"])
        self.assertEqual(await self.read(), [])

    async def test_bad_fields(self) -> None:
        """
        Each bad field is refused with a 400 naming it.
        """
        cases = [
            ({"operation": "read_audit_log"}, "table: required"),
            ({"operation": "read_audit_log", "table": "Dog", "search_type": "colour"}, "search_type"),
            ({"operation": "read_audit_log", "table": "Dog", "search_values": 5}, "search_values"),
            ({"operation": "read_audit_log", "table": "Dog", "search_values": ["yesterday"]}, "search_values[0]"),
            ({"operation": "read_audit_log", "table": "Dog", "search_values": [1, 2, 3]}, "search_values"),
            ({"operation": "read_audit_log", "table": "Dog", "search_type": "username", "search_values": [7]}, "search_values[0]"),
            ({"operation": "read_audit_log", "table": "Dog", "search_type": "hash_value", "search_values": [{}]}, "search_values[0]"),
            ({"operation": "read_transaction_log", "table": "Dog", "limit": 0}, "limit"),
            ({"operation": "read_transaction_log", "table": "Dog", "from": "monday"}, "from"),
            ({"operation": "delete_audit_logs_before", "table": "Dog"}, "timestamp: required"),
            ({"operation": "delete_transaction_logs_before", "table": "Dog", "timestamp": True}, "timestamp"),
        ]
        for body, field in cases:
            message = await self.refused(body, 400)
            self.assertTrue(message.startswith(field), f"{body}: {message}")
        self.assertIn("Cat", await self.refused({"operation": "read_audit_log", "table": "Cat"}, 404))

    async def test_super_users_only(self) -> None:
        """
        A user who is not a super user gets 403 from every audit operation; nobody gets 401.
        """
        reader = await self.add_reader()
        for operation in ("read_audit_log", "read_transaction_log", "delete_audit_logs_before",
                          "delete_transaction_logs_before"):
            body = {"operation": operation, "table": "Dog", "timestamp": 0}
            await self.refused(body, 403, reader)
            await self.refused(body, 401, None)


class AuditOffTests(OperationsCase):
    """
    With C{logging.auditLog: false} there is no log to read.
    """

    config_text = "storage: {threadPoolSize: 2}\nlogging: {auditLog: false}\n"

    async def test_refused(self) -> None:
        """
        The audit operations answer 400 saying the audit log is off, and writes keep working.
        """
        await self.ok({"operation": "insert", "table": "Dog", "records": [{"id": 1, "name": "Rex"}]})
        for operation in ("read_audit_log", "read_transaction_log", "delete_audit_logs_before"):
            message = await self.refused({"operation": operation, "table": "Dog", "timestamp": 0}, 400)
            self.assertIn("logging.auditLog", message)

    async def test_described_unaudited(self) -> None:
        """
        C{describe_table} says the table is not audited.
        """
        described = await self.ok({"operation": "describe_table", "table": "Dog"})
        self.assertIs(described["audit"], False)
