# -*- test-case-name: tests.components.test_plugins -*-
"""
A Twisted plugin package holding the example third-party plugins the tests discover with
C{discover_plugins(["tests.testplugins"])}.

Like C{twisted/plugins}, its C{__path__} also covers folders of the same dotted name elsewhere
on C{sys.path}, so other distributions can drop modules into it.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []
