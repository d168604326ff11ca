# -*- test-case-name: tests.plugins.test_load_env -*-
"""
The C{loadEnv} plugin: C{loadEnv: {files: .env, override: false}} reads C{KEY=value} lines
into C{os.environ} while the application loads, so the plugins after it in config.yaml (and
the modules they import) see the variables. Put it first.

The format: one C{KEY=value} per line, an optional C{export } prefix, C{#} comments and blank
lines; a value in single quotes is taken as written, one in double quotes understands
C{\\n}, C{\\t}, C{\\"} and C{\\\\}; an unquoted value ends at C{ #}. Variables already set are
kept unless C{override} is true.
"""

from __future__ import annotations

import os
import re
from typing import Any, MutableMapping, Optional

from zope.interface import implementer

from harper.errors import ComponentError
from harper.interfaces import IApplicationScope, IHarperPlugin
from harper.plugins.base import OptionsPlugin

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _value(text: str) -> Optional[str]:
    if text[:1] == "'":
        return text[1:text.index("'", 1)] if text.count("'") >= 2 else None
    if text[:1] == '"':
        match = re.match(r'"((?:[^"\\]|\\.)*)"', text)
        if match is None:
            return None
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), match.group(1))
    return re.split(r"\s+#", text, maxsplit=1)[0].strip()


def parse_env(text: str, source: str) -> dict[str, str]:
    """
    The variables of a C{.env} file's C{text}, in order.

    :raises ComponentError: naming C{source} and the line of every line that is not a
        variable, a comment or blank.
    """
    found, problems = {}, []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        value = _value(match.group(2)) if match else None
        if value is None:
            problems.append(f"{source}, line {number}: expected KEY=value")
            continue
        found[match.group(1)] = value
    if problems:
        raise ComponentError(problems)
    return found


def load_env(
    text: str, source: str, environ: MutableMapping[str, str], override: bool = False
) -> list[str]:
    """
    Set the variables of C{text} in C{environ} (keeping those already set unless
    C{override}); return the names set.
    """
    variables = parse_env(text, source).items()
    chosen = [(key, value) for key, value in variables if override or key not in environ]
    environ.update(chosen)
    return [key for key, _ in chosen]


@implementer(IHarperPlugin)
class LoadEnvPlugin(OptionsPlugin):
    """
    C{loadEnv}: load the C{.env} files of C{files} (default C{.env}) into C{os.environ}.
    """

    name = "loadEnv"
    known = {"files": (str, list), "override": bool}

    def handle_application(self, application: IApplicationScope, options: Any) -> None:
        if options is False:
            return
        settings = self.options(options)
        for path in application.files(settings.get("files", ".env")):
            try:
                text = path.getContent().decode("utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ComponentError([f"{path.path}: cannot read: {error}"]) from error
            load_env(text, path.path, os.environ, settings.get("override", False))
