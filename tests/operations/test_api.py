"""
Tests for L{harper.operations.api}: the HTTP face of the operations, over real loopback
sockets.
"""

from __future__ import annotations

import cbor2

from harper.operations.api import default_operations
from tests.operations.helpers import OperationsCase, basic


class RequestTests(OperationsCase):
    """
    What the API accepts and how it refuses the rest.
    """

    async def test_describe_all(self) -> None:
        """
        An authenticated POST runs the operation and answers 200 with JSON.
        """
        answer = await self.post({"operation": "describe_all"})
        self.assertEqual(answer.status, 200)
        self.assertEqual(answer.headers.getRawHeaders("content-type"), ["application/json"])
        self.assertEqual(sorted(answer.body["data"]), ["Breed", "Dog"])

    async def test_unknown_operation(self) -> None:
        """
        An unknown operation is a 400 naming it, without listing what exists.
        """
        message = await self.refused({"operation": "drop_everything"}, 400)
        self.assertEqual(message, "operation: 'drop_everything' is not an operation this server knows")

    async def test_missing_operation(self) -> None:
        """
        A body without C{operation} is a 400 naming the field; so is one of the wrong type.
        """
        self.assertEqual(await self.refused({"table": "Dog"}, 400), "operation: required")
        self.assertEqual(await self.refused({"operation": 5}, 400), "operation: expected text, got a number")

    async def test_not_json(self) -> None:
        """
        A body that is not JSON, or not a JSON object, is a 400.
        """
        answer = await self.post(None, raw=b"{operation")
        self.assertEqual(answer.status, 400)
        self.assertIn("not valid JSON", answer.body["error"])
        answer = await self.post(["describe_all"])
        self.assertEqual(answer.status, 400)
        self.assertIn("must be a JSON object", answer.body["error"])

    async def test_other_body_types(self) -> None:
        """
        CBOR bodies are decoded; a form content type (what C{curl -d} sends) is read as JSON.
        """
        body = cbor2.dumps({"operation": "describe_table", "table": "Dog"})
        answer = await self.post(None, raw=body, content_type="application/cbor")
        self.assertEqual((answer.status, answer.body["name"]), (200, "Dog"))
        raw = b'{"operation": "describe_table", "table": "Dog"}'
        answer = await self.post(None, raw=raw, content_type="application/x-www-form-urlencoded")
        self.assertEqual((answer.status, answer.body["name"]), (200, "Dog"))

    async def test_wrong_method_and_path(self) -> None:
        """
        Only C{POST /} is served: other methods get 405 with C{Allow}, other paths 404.
        """
        answer = await self.post(None, raw=b"", method="GET")
        self.assertEqual((answer.status, answer.headers.getRawHeaders("allow")), (405, ["POST"]))
        answer = await self.post({"operation": "describe_all"}, path="other")
        self.assertEqual(answer.status, 404)

    async def test_credentials_required(self) -> None:
        """
        Without credentials the answer is 401 with a Basic challenge; wrong ones are 401 too.
        """
        answer = await self.post({"operation": "describe_all"}, authorization=None)
        self.assertEqual(answer.status, 401)
        self.assertIn("Basic", answer.headers.getRawHeaders("www-authenticate")[0])
        message = await self.refused({"operation": "describe_all"}, 401, basic("admin", "wrong"))
        self.assertEqual(message, "wrong username or password")
        message = await self.refused({"operation": "describe_all"}, 401, "Digest abc")
        self.assertIn("unsupported authorization scheme", message)

    async def test_brute_force_refused(self) -> None:
        """
        After repeated wrong passwords from one address, even the right password from it is
        answered 429 with C{Retry-After}.
        """
        for _ in range(10):
            await self.refused({"operation": "describe_all"}, 401, basic("admin", "guess"))
        answer = await self.post({"operation": "describe_all"})
        self.assertEqual(answer.status, 429)
        self.assertTrue(int(answer.headers.getRawHeaders("retry-after")[0]) > 0)

    def test_every_operation_registered(self) -> None:
        """
        The API serves the operations of issue #5's first step, with Harper's aliases.
        """
        expected = {
            "describe_all", "describe_database", "describe_schema", "describe_table", "insert",
            "update", "upsert", "delete", "search_by_id", "search_by_hash", "search_by_value",
            "search_by_conditions", "add_user", "alter_user", "drop_user", "list_users",
            "user_info", "add_role", "alter_role", "drop_role", "list_roles",
            "create_authentication_tokens", "refresh_operation_token", "login", "logout",
            "system_information",
            "get_configuration", "sql", "csv_data_load", "csv_file_load", "get_job",
            "search_jobs_by_start_date", "create_database", "create_schema", "drop_database",
            "drop_schema", "create_table", "drop_table", "create_attribute", "drop_attribute",
            "set_configuration", "read_log", "get_analytics", "list_metrics",
            "get_components", "get_component_file", "set_component_file", "add_component",
            "deploy_component", "drop_component", "restart", "restart_service",
            "read_audit_log", "read_transaction_log", "delete_audit_logs_before",
            "delete_transaction_logs_before",
            "add_node", "set_node", "update_node", "remove_node", "cluster_status",
            "cluster_set_routes", "cluster_get_routes", "cluster_delete_routes",
        }
        self.assertEqual(set(default_operations().names()), expected)


class TokenTests(OperationsCase):
    """
    Operation and refresh tokens over the API.
    """

    async def test_tokens(self) -> None:
        """
        C{create_authentication_tokens} needs no credentials header; its operation token
        authenticates, its refresh token buys a new operation token, and is refused as an
        operation token.
        """
        tokens = await self.ok({"operation": "create_authentication_tokens", "username": "admin",
                                "password": "admin-password"}, authorization=None)
        bearer = "Bearer " + tokens["operation_token"]
        self.assertEqual((await self.ok({"operation": "user_info"}, bearer))["username"], "admin")
        refreshed = await self.ok({"operation": "refresh_operation_token"}, "Bearer " + tokens["refresh_token"])
        self.assertEqual(
            (await self.ok({"operation": "user_info"}, "Bearer " + refreshed["operation_token"]))["username"],
            "admin",
        )
        message = await self.refused({"operation": "user_info"}, 401, "Bearer " + tokens["refresh_token"])
        self.assertEqual(message, "the token is not an operation token")

    async def test_refresh_token_in_body(self) -> None:
        """
        The refresh token may come as C{refresh_token}; without one the answer is 400.
        """
        tokens = await self.ok({"operation": "create_authentication_tokens", "username": "admin",
                                "password": "admin-password"}, authorization=None)
        refreshed = await self.ok({"operation": "refresh_operation_token", "refresh_token": tokens["refresh_token"]},
                                  authorization=None)
        self.assertIn("operation_token", refreshed)
        message = await self.refused({"operation": "refresh_operation_token"}, 400, authorization=None)
        self.assertTrue(message.startswith("refresh_token: required"))

    async def test_tampered_token(self) -> None:
        """
        A token whose payload was changed is refused.
        """
        tokens = await self.ok({"operation": "create_authentication_tokens"})
        header, payload, signature = tokens["operation_token"].split(".")
        forged = ".".join((header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature))
        message = await self.refused({"operation": "user_info"}, 401, "Bearer " + forged)
        self.assertEqual(message, "the token is invalid")

    async def test_wrong_password_for_tokens(self) -> None:
        """
        Wrong credentials get no tokens; a missing password is a 400 naming it.
        """
        body = {"operation": "create_authentication_tokens", "username": "admin", "password": "nope"}
        self.assertEqual(await self.refused(body, 401, authorization=None), "wrong username or password")
        body = {"operation": "create_authentication_tokens", "username": "admin"}
        self.assertEqual(await self.refused(body, 400, authorization=None), "password: required")
