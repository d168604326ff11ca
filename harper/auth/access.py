# -*- test-case-name: tests.auth.test_access -*-
"""
Everything access control needs in a running daemon, assembled once at start-up and shared by
every transport: the users and roles, the token issuer, the login throttle, the cookie
sessions and the authenticator.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import attr
from twisted.internet.interfaces import IReactorTime

from harper.auth.authenticator import Authenticator
from harper.auth.passwords import PasswordHashing
from harper.auth.sessions import Sessions
from harper.auth.throttle import LoginThrottle
from harper.auth.tokens import SigningKeyFile, TokenIssuer
from harper.auth.users import Users
from harper.database.table import Table
from harper.database.transaction import TransactionRunner


@attr.define
class AccessControl:
    """
    The access-control services of one daemon.

    :ivar users: adds, changes and checks users and roles.
    :ivar tokens: issues and checks operation and refresh tokens.
    :ivar throttle: counts failed logins per address.
    :ivar authenticator: turns request credentials into users.
    :ivar sessions: the cookie sessions of C{login}, or C{None} when
        C{authentication.enableSessions} is off.
    """

    users: Users
    tokens: TokenIssuer
    throttle: LoginThrottle
    authenticator: Authenticator
    sessions: Optional[Sessions] = None

    @classmethod
    def open(
        cls,
        config: Any,
        runner: TransactionRunner,
        system_tables: list[Table],
        clock: IReactorTime,
        passwords: Optional[PasswordHashing] = None,
    ) -> "AccessControl":
        """
        Build the services over the migrated C{system_tables} (from
        L{harper.auth.system.system_tables}), read or create the token key under
        C{<rootPath>/keys}, and create the roles and the bootstrap administrator that must
        exist (blocking: call at start-up).

        :param config: the L{harper.components.config_sections.HarperConfig}.
        :param passwords: the password hashing (argon2id with its default costs when
            C{None}).
        """
        user_table, role_table, session_table = system_tables
        users = Users(runner, user_table, role_table, passwords or PasswordHashing())
        users.bootstrap(config.admin_bootstrap)
        settings = config.authentication
        key = SigningKeyFile(os.path.join(config.root_path, "keys")).read_or_create()
        tokens = TokenIssuer(
            key, clock, settings.operation_token_timeout, settings.refresh_token_timeout
        )
        throttle = LoginThrottle(clock)
        sessions = None
        if settings.enable_sessions:
            sessions = Sessions(runner, session_table, clock, settings.operation_token_timeout)
        authenticator = Authenticator(
            users, tokens, throttle, clock, settings.authorize_local, sessions=sessions
        )
        return cls(users, tokens, throttle, authenticator, sessions)
