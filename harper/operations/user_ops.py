# -*- test-case-name: tests.operations.test_user_ops -*-
"""
Users, roles, tokens and sessions: C{add_user}, C{alter_user}, C{drop_user}, C{list_users},
C{user_info}, C{add_role}, C{alter_role}, C{drop_role}, C{list_roles},
C{create_authentication_tokens}, C{refresh_operation_token}, C{login}, C{logout}.

Changing users and roles needs a super user; C{user_info} answers any user about themselves;
the token and session operations authenticate by themselves.
"""

from __future__ import annotations

from typing import Any

from harper.auth.permissions import require_super_user
from harper.auth.sessions import SESSION_SCHEME, session_cookie
from harper.auth.tokens import OPERATION, REFRESH
from harper.errors import InvalidInput
from harper.operations.registry import OperationCall, OperationRegistry

operations = OperationRegistry()

_USER_CHANGES = ("password", "role", "active")


def _users(call: OperationCall, action: str) -> Any:
    require_super_user(call.user, action)
    return call.scope.access.users


@operations.register("add_user")
async def add_user(call: OperationCall) -> dict[str, Any]:
    """
    Create a user with a password and a role.
    """
    users, fields = _users(call, "add users"), call.fields
    username = fields.text("username")
    password, role = fields.text("password"), fields.text("role")
    await users.add_user(username, password, role, fields.boolean("active", True))
    return {"message": f"{username} successfully added"}


@operations.register("alter_user")
async def alter_user(call: OperationCall) -> dict[str, Any]:
    """
    Change a user's password, role or active flag.
    """
    users, fields = _users(call, "alter users"), call.fields
    username = fields.text("username")
    if not any(fields.has(name) for name in _USER_CHANGES):
        raise InvalidInput(f"alter_user needs at least one of {', '.join(_USER_CHANGES)}")
    await users.alter_user(
        username,
        password=fields.text("password", None),
        role=fields.text("role", None),
        active=fields.boolean("active", None),
    )
    return {"message": "updated 1 of 1 records", "update_hashes": [username], "skipped_hashes": []}


@operations.register("drop_user")
async def drop_user(call: OperationCall) -> dict[str, Any]:
    """
    Remove a user.
    """
    users = _users(call, "drop users")
    username = call.fields.text("username")
    await users.drop_user(username)
    return {"message": f"{username} successfully deleted"}


@operations.register("list_users")
async def list_users(call: OperationCall) -> list[dict[str, Any]]:
    """
    Every user with their role (never a password hash).
    """
    return [user.describe() for user in await _users(call, "list users").list_users()]


@operations.register("user_info")
def user_info(call: OperationCall) -> dict[str, Any]:
    """
    The calling user.
    """
    return call.user.describe()


@operations.register("add_role")
async def add_role(call: OperationCall) -> dict[str, Any]:
    """
    Create a role; the answer is the role with its id.
    """
    users, fields = _users(call, "add roles"), call.fields
    name, permission = fields.text("role"), fields.mapping("permission")
    role = await users.add_role(name, permission, fields.text("id", None))
    return role.describe()


@operations.register("alter_role")
async def alter_role(call: OperationCall) -> dict[str, Any]:
    """
    Rename a role or replace its permission.
    """
    users, fields = _users(call, "alter roles"), call.fields
    role_id, name = fields.text("id"), fields.text("role", None)
    role = await users.alter_role(role_id, name, fields.mapping("permission", None))
    return role.describe()


@operations.register("drop_role")
async def drop_role(call: OperationCall) -> dict[str, Any]:
    """
    Remove a role that no user holds.
    """
    role = await _users(call, "drop roles").drop_role(call.fields.text("id"))
    return {"message": f"{role.name} successfully deleted"}


@operations.register("list_roles")
async def list_roles(call: OperationCall) -> list[dict[str, Any]]:
    """
    Every role.
    """
    return [role.describe() for role in await _users(call, "list roles").list_roles()]


@operations.register("create_authentication_tokens", public=True)
async def create_authentication_tokens(call: OperationCall) -> dict[str, str]:
    """
    An operation token and a refresh token for C{username} and C{password} (or for the
    user the request's own credentials name).
    """
    fields, access = call.fields, call.scope.access
    if fields.has("username") or fields.has("password"):
        username, password = fields.text("username"), fields.text("password")
        user = await access.authenticator.login(username, password, call.client_address)
    else:
        user = await access.authenticator.authenticate(call.authorization, call.client_address)
        if user is None:
            raise InvalidInput(
                "username: required (with password), unless the request has credentials"
            )
    return {
        "operation_token": access.tokens.issue(user.username, OPERATION),
        "refresh_token": access.tokens.issue(user.username, REFRESH),
    }


@operations.register("refresh_operation_token", public=True)
async def refresh_operation_token(call: OperationCall) -> dict[str, str]:
    """
    A new operation token for the holder of a refresh token, given as C{refresh_token} or as
    the request's Bearer token.
    """
    token = call.fields.text("refresh_token", None)
    scheme, _, credentials = (call.authorization or "").strip().partition(" ")
    if token is None and scheme.lower() == "bearer":
        token = credentials.strip()
    if not token:
        raise InvalidInput("refresh_token: required (or send the refresh token as a Bearer token)")
    access = call.scope.access
    user = await access.authenticator.refresh(token, call.client_address)
    return {"operation_token": access.tokens.issue(user.username, OPERATION)}


@operations.register("login", public=True)
async def login(call: OperationCall) -> dict[str, str]:
    """
    Open a cookie session for C{username} and C{password}: the answer sets the session
    cookie (C{HttpOnly}, C{SameSite=Strict}, C{Secure} over TLS) that authenticates the
    client's later requests on every HTTP interface.
    """
    access = call.scope.access
    if access.sessions is None:
        raise InvalidInput("sessions are turned off (authentication.enableSessions)")
    username, password = call.fields.text("username"), call.fields.text("password")
    user = await access.authenticator.login(username, password, call.client_address)
    secret = await access.sessions.open(user.username)
    cookie = session_cookie(secret, access.sessions.lifetime, call.secure)
    call.response_headers["Set-Cookie"] = cookie
    return {"message": "Login successful"}


@operations.register("logout", public=True)
async def logout(call: OperationCall) -> dict[str, str]:
    """
    Close the session of the request's cookie, if it sends one (the cookie then no longer
    authenticates anyone, wherever it is replayed from), and tell the client to drop it.
    """
    scheme, _, secret = (call.authorization or "").strip().partition(" ")
    sessions = call.scope.access.sessions
    if scheme == SESSION_SCHEME and sessions is not None:
        await sessions.close(secret.strip())
    call.response_headers["Set-Cookie"] = session_cookie("", 0, call.secure)
    return {"message": "Logout successful"}
