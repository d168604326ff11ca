# -*- test-case-name: tests.components.test_config -*-
"""
The declaration of configuration keys and the walk that checks a mapping against them.

Every key is declared once, as a field of a frozen attrs class (see
L{harper.components.config_sections}): L{setting} gives its default, its check and, for paths,
how to make it absolute; L{section} nests another class. The key's YAML name is the field's
name in camelCase. L{checked} walks a mapping read from one source against these declarations
and reports every problem; L{defaults} lists the default values; L{built} turns checked values
into the attrs objects.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Callable, Mapping, Optional

import attr

from harper.components.config_checks import Check, Invalid, shown, unknown_key

#: Makes a checked value absolute, given the folder that relative paths start from.
Resolve = Callable[[Any, str], Any]

#: Records one problem: the dotted key, then the reason.
Report = Callable[[str, str], None]

_SETTING = "harper.config.setting"
_SECTION = "harper.config.section"


@attr.frozen
class Setting:
    """
    What the configuration knows about one key.

    :ivar default: the value when no source sets the key (relative paths resolved like others).
    :ivar check: checks a value and returns its normal form.
    :ivar resolve: makes a checked value absolute, for keys holding paths.
    """

    default: Any
    check: Check
    resolve: Optional[Resolve] = None


def setting(
    default: Any,
    check: Check,
    *,
    resolve: Optional[Resolve] = None,
    converter: Optional[Callable[[Any], Any]] = None,
) -> Any:
    """
    Declare a configuration key as an attrs field.

    :param converter: turns the checked value into the attribute's value (lists into tuples).
    """
    return attr.field(
        metadata={_SETTING: Setting(default, check, resolve)}, converter=converter
    )


def section(cls: type) -> Any:
    """
    Declare a nested section, described by the attrs class C{cls}, as an attrs field.
    """
    return attr.field(metadata={_SECTION: cls})


def key_name(attribute_name: str) -> str:
    """
    The camelCase YAML key of a snake_case attribute.
    """
    return re.sub(r"_([a-z0-9])", lambda match: match.group(1).upper(), attribute_name)


def _keys(cls: type) -> dict[str, attr.Attribute]:
    return {
        key_name(field.name): field
        for field in attr.fields(cls)
        if _SETTING in field.metadata or _SECTION in field.metadata
    }


def checked(cls: type, data: Mapping[Any, Any], base_dir: str, report: Report,
            prefix: str = "") -> dict[str, Any]:
    """
    Check a mapping read from one source against the keys of C{cls}.

    :param data: the keys set by the source (others keep their values from earlier sources).
    :param base_dir: the absolute folder that this source's relative paths start from.
    :param report: called once per problem.
    :param prefix: the dotted key of C{data}, for nested sections.
    :return: the keys that passed, in normal form, with paths made absolute.
    """
    keys = _keys(cls)
    result: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        field = keys.get(key)
        if field is None:
            report(dotted, unknown_key(key, keys))
        elif _SECTION in field.metadata:
            if isinstance(value, dict):
                result[key] = checked(field.metadata[_SECTION], value, base_dir, report,
                                      dotted + ".")
            else:
                report(dotted, f"expected a mapping of settings, got {shown(value)}")
        else:
            try:
                result[key] = _checked_value(field.metadata[_SETTING], value, base_dir)
            except Invalid as invalid:
                for suffix, reason in invalid.problems:
                    report(dotted + suffix, reason)
    return result


def _checked_value(declared: Setting, value: Any, base_dir: str) -> Any:
    value = declared.check(value)
    return value if declared.resolve is None else declared.resolve(value, base_dir)


def defaults(cls: type) -> dict[str, Any]:
    """
    The default value of every key of C{cls}, nested like the YAML file.
    """
    result: dict[str, Any] = {}
    for key, field in _keys(cls).items():
        if _SECTION in field.metadata:
            result[key] = defaults(field.metadata[_SECTION])
        else:
            result[key] = copy.deepcopy(field.metadata[_SETTING].default)
    return result


def merged(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """
    A copy of C{base} with the keys of C{layer} replacing its values, section by section.
    """
    result = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def built(cls: type, values: Mapping[str, Any], derived: Optional[Mapping[str, Any]] = None) -> Any:
    """
    Build C{cls} and its sections from complete checked values.

    :param values: every key of C{cls}, as L{checked} returns them, merged over L{defaults}.
    :param derived: attribute values that do not come from a key (or that replace the key's
        value), by attribute name; a section's are in a nested mapping under its name.
    """
    extra = dict(derived or {})
    arguments: dict[str, Any] = {}
    for key, field in _keys(cls).items():
        if _SECTION in field.metadata:
            nested = extra.pop(field.name, None)
            arguments[field.name] = built(field.metadata[_SECTION], values[key], nested)
        else:
            arguments[field.name] = copy.deepcopy(values[key])
    arguments.update(extra)
    return cls(**arguments)
