"""
Tests for L{harper.auth.access}: access control assembled by a started runtime.
"""

from __future__ import annotations

import os
import stat

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from harper.components.config import config_from_string
from harper.components.runtime import Runtime


class RuntimeAccessTests(TestCase):
    """
    What L{harper.components.runtime.Runtime.start} sets up for access control.
    """

    def start(self, environ: dict) -> Runtime:
        root = os.path.abspath(self.mktemp())
        config = config_from_string("storage: {threadPoolSize: 2}\n", root=root, environ=environ)
        runtime = Runtime(config, [], reactor)
        runtime.start()
        self.addCleanup(runtime.stop)
        return runtime

    async def test_bootstrap_admin(self) -> None:
        """
        C{HARPER_ADMIN_USERNAME} and C{HARPER_ADMIN_PASSWORD} create a super user that can
        log in; the token key is created private under C{<rootPath>/keys}.
        """
        runtime = self.start({"HARPER_ADMIN_USERNAME": "root", "HARPER_ADMIN_PASSWORD": "secret"})
        user = await runtime.access.authenticator.login("root", "secret", "10.0.0.1")
        self.assertTrue(user.super_user)
        key = os.path.join(runtime.config.root_path, "keys", "jwt-hs256.key")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)

    async def test_no_admin(self) -> None:
        """
        Without the environment variables there is no user, only the super_user role, and
        loopback requests without credentials stay anonymous.
        """
        runtime = self.start({})
        self.assertEqual(await runtime.access.users.list_users(), [])
        self.assertEqual([role.name for role in await runtime.access.users.list_roles()], ["super_user"])
        self.assertIsNone(await runtime.access.authenticator.authenticate(None, "127.0.0.1"))
