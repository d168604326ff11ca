# -*- test-case-name: tests.components.test_plugins -*-
"""
An example third-party plugin: C{greeting: {message: "Hello"}} in an application's
config.yaml serves C{{"message": "Hello"}} at C{/greeting} under the application's URL path.
"""

from __future__ import annotations

from typing import Any

from twisted.plugin import IPlugin
from zope.interface import implementer

from harper.interfaces import IApplicationScope, IHarperPlugin
from harper.resources.base import Resource
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget

#: The options of the plugin and their types.
OPTIONS = {"message": str, "path": str}


class Greeting(Resource):
    """
    Answers GET with the configured message.

    :ivar message: the text to send back.
    """

    def __init__(self, message: str) -> None:
        self.message = message

    def get(self, target: RequestTarget, context: RequestContext) -> dict[str, str]:
        """
        The message, whatever the target.
        """
        return {"message": self.message}


@implementer(IPlugin, IHarperPlugin)
class GreetingPlugin:
    """
    The C{greeting} plugin: C{message} (required) is the text served, C{path} (default
    C{greeting}) where it is served.
    """

    name = "greeting"

    def check(self, options: Any) -> list[str]:
        """
        The problems with the C{greeting} key of a config.yaml (a mapping with a string
        C{message}).
        """
        if not isinstance(options, dict):
            return [f"greeting: expected a mapping such as {{message: Hello}}, got {options!r}"]
        problems = [
            f"greeting.{key}: unknown option (known: {', '.join(OPTIONS)})"
            for key in options
            if key not in OPTIONS
        ]
        if "message" not in options:
            problems.append("greeting.message: required")
        for key, kind in OPTIONS.items():
            if key in options and not isinstance(options[key], kind):
                problems.append(f"greeting.{key}: expected a string, got {options[key]!r}")
        return problems

    def handle_application(self, application: IApplicationScope, options: dict) -> None:
        """
        Serve a L{Greeting} for this application (C{options} passed L{check}).
        """
        greeting = Greeting(options["message"])
        application.export_resource(options.get("path", "greeting"), greeting)


#: The object twisted.plugin.getPlugins finds: it provides IPlugin and IHarperPlugin.
greeting = GreetingPlugin()
