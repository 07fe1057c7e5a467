"""The run's settings from a TOML file and ``-p section.name=value``: defaults < file < command line.

Every stage declares its own parameters (`lco_stages.settings`); this module reads what a person
asks for, validates it against those declarations, keeps where each value came from, and prints
the whole table (``lco-reduce config show``) as TOML that ``--config`` reads back. A wrong name
or value is a one-line usage error naming the setting and, for a file, the file.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from lco_core.errors import LcoError

if TYPE_CHECKING:
    from lco_core.parameters import Parameter, Settings, SettingValue

#: Where a setting's value came from: its declaration, a file (``file NAME``), or the command line.
DEFAULT = "default"
COMMAND_LINE = "command line"


class SettingsError(LcoError):
    """A settings file, name or value that cannot be used: one line naming the file or the ``-p``."""


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    from lco_core._frozen import FrozenMapping

    return FrozenMapping(dict(mapping))


@attrs.frozen
class ChosenSettings:
    """A run's settings and where each one's value came from.

    Attributes
    ----------
    settings : Settings
        Every stage's settings (frozen and picklable: what the workers get).
    sources : Mapping[str, str]
        ``section.name`` -> ``'file NAME'`` or ``'command line'``, for the settings not left
        at their defaults.
    """

    settings: Settings
    sources: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen)

    def source(self, name: str) -> str:
        """Where a setting's value came from.

        Parameters
        ----------
        name : str
            ``section.name``.

        Returns
        -------
        str
            ``'default'``, ``'file NAME'`` or ``'command line'``.
        """
        return self.sources.get(name, DEFAULT)


def default_settings() -> ChosenSettings:
    """Every setting at its default.

    Returns
    -------
    ChosenSettings
    """
    from lco_stages.settings import DEFAULT_SETTINGS

    return ChosenSettings(DEFAULT_SETTINGS)


def read_config(path: Path, base: Settings) -> dict[str, SettingValue]:
    """The settings a TOML file sets: ``[section]`` tables of ``name = value``, validated.

    Parameters
    ----------
    path : pathlib.Path
        The file, e.g. ``night.toml``::

            [cosmic]
            sigclip = 6.0

            [stack]
            nsigma = 3.5
    base : Settings
        The declarations to check names and values against.

    Returns
    -------
    dict
        ``section.name`` -> value, of the parameter's type.

    Raises
    ------
    SettingsError
        The file cannot be read or is not TOML, or it names an unknown setting (the closest
        name is suggested) or gives a value of the wrong type or out of range; one line, naming
        the file.
    """
    from lco_core.parameters import InvalidSettingError, UnknownSettingError

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError(f"{path}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not a text file (a TOML file of settings is expected)") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: not valid TOML: {error}") from None
    values: dict[str, SettingValue] = {}
    for section, table in data.items():
        items = table.items() if isinstance(table, dict) else [(None, table)]
        for name, value in items:
            key = section if name is None else f"{section}.{name}"
            try:
                values[key] = base.parameter(key).check(value)
            except (UnknownSettingError, InvalidSettingError) as error:
                raise SettingsError(f"{path}: {error}") from None
    return values


def parse_assignment(text: str, base: Settings) -> tuple[str, SettingValue]:
    """One ``-p section.name=value``, validated.

    Parameters
    ----------
    text : str
        What followed ``-p``.
    base : Settings
        The declarations to check the name and value against.

    Returns
    -------
    name : str
        ``section.name``.
    value : bool, int, float or str
        Of the parameter's type (``true``/``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0``
        for a flag).

    Raises
    ------
    SettingsError
        No ``=``, an unknown name (the closest is suggested), or a bad value, e.g.
        ``-p cosmic.sigclip=abc: not a number``.
    """
    from lco_core.parameters import InvalidSettingError, UnknownSettingError

    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise SettingsError(f"-p {text}: expected SECTION.NAME=VALUE, e.g. -p cosmic.sigclip=6")
    name = name.strip()
    try:
        return name, base.parameter(name).parse(value)
    except UnknownSettingError as error:
        raise SettingsError(f"-p {text}: {error}") from None
    except InvalidSettingError as error:
        raise SettingsError(f"-p {text}: {error.problem}") from None


def choose_settings(
    config: Path | None = None,
    assignments: Sequence[str] = (),
    aliases: Mapping[str, tuple[str, object]] | None = None,
) -> ChosenSettings:
    """The run's settings: defaults, then the file, then the command line (``-p`` and aliases).

    Parameters
    ----------
    config : pathlib.Path, optional
        A TOML file of settings (``--config``).
    assignments : sequence of str
        ``section.name=value`` texts (``-p``), applied in order.
    aliases : mapping, optional
        Options that are settings: ``section.name`` -> (option as typed, value), e.g.
        ``{'stack.min_frames': ('--min-frames 3', 3)}``.

    Returns
    -------
    ChosenSettings

    Raises
    ------
    SettingsError
        A bad file, name or value (`read_config`, `parse_assignment`), an alias whose value is
        out of range, or an alias and a ``-p`` that give one setting different values.
    """
    from lco_core.parameters import InvalidSettingError
    from lco_stages.settings import DEFAULT_SETTINGS

    settings = DEFAULT_SETTINGS
    sources: dict[str, str] = {}
    if config is not None:
        from_file = read_config(config, settings)
        settings = settings.updated(from_file)
        sources |= dict.fromkeys(from_file, f"file {config}")
    given: dict[str, tuple[str, SettingValue]] = {}
    for key, (option, value) in (aliases or {}).items():
        try:
            given[key] = (option, settings.parameter(key).check(value))
        except InvalidSettingError as error:
            raise SettingsError(f"{option}: {error.problem}") from None
    for text in assignments:
        key, value = parse_assignment(text, settings)
        earlier = given.get(key)
        if earlier is not None and earlier[0].startswith("--") and earlier[1] != value:
            raise SettingsError(f"{earlier[0]} and -p {text} give {key} two values")
        given[key] = (f"-p {text}", value)
    settings = settings.updated({key: value for key, (_, value) in given.items()})
    sources |= dict.fromkeys(given, COMMAND_LINE)
    return ChosenSettings(settings, sources)


def summary_of(chosen: ChosenSettings, applied: Settings) -> dict[str, object]:
    """The settings' entries of ``summary.json``'s options.

    Parameters
    ----------
    chosen : ChosenSettings
        What was asked for, and where from.
    applied : Settings
        What the run used (``chosen`` with any `~lco_cli.commands.run.reduce_night` arguments
        that are settings folded in).

    Returns
    -------
    dict
        ``settings``: every value, by section and name; ``settings_from``: ``section.name`` ->
        where each value that is not its default came from ('file NAME', 'command line', or
        'argument' for a `~lco_cli.commands.run.reduce_night` argument); ``astrometry``: the
        ``astrometry.*`` values again, where earlier summaries had them.
    """
    sources: dict[str, str] = {}
    for parameter in applied.parameters():
        value = applied.value(parameter.key)
        if value != chosen.settings.value(parameter.key):
            sources[parameter.key] = "argument"
        elif parameter.key in chosen.sources:
            sources[parameter.key] = chosen.source(parameter.key)
    values = applied.as_dict()
    return {"settings": values, "settings_from": sources, "astrometry": values.get("astrometry", {})}


def _toml_value(value: SettingValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _describe(parameter: Parameter) -> str:
    facts = [parameter.kind]
    if parameter.limits():
        facts[0] += f" {parameter.limits()}"
    if parameter.unit:
        facts.append(parameter.unit)
    facts.append(f"default {_toml_value(parameter.default)}")
    return f"{parameter.description} [{'; '.join(facts)}]"


def format_settings(chosen: ChosenSettings) -> str:
    """Every setting as TOML: each with its description, type, range, unit and default in a comment
    above it and where its value came from beside it (``--config`` reads the text back).

    Parameters
    ----------
    chosen : ChosenSettings
        The settings.

    Returns
    -------
    str
    """
    lines = [
        "# lco-reduce settings: each value, where it came from (default, file or command line), and",
        "# above it what it does [type and range; unit; default]. Save this as a file for --config,",
        "# or change one setting with -p SECTION.NAME=VALUE.",
    ]
    for record in chosen.settings.stages:
        lines += ["", f"[{type(record).section}]  # {type(record).summary()}"]
        for parameter in record.parameters():
            value = chosen.settings.value(parameter.key)
            lines.append(f"# {parameter.name}: {_describe(parameter)}")
            lines.append(f"{parameter.name} = {_toml_value(value)}  # {chosen.source(parameter.key)}")
    return "\n".join(lines) + "\n"


def settings_table(settings: Settings) -> str:
    """Every setting as a reStructuredText list table (for the documentation).

    Parameters
    ----------
    settings : Settings
        Usually every default.

    Returns
    -------
    str
    """
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 24 10 8 12 46",
        "",
        "   * - setting",
        "     - default",
        "     - type",
        "     - unit, range",
        "     - what it does",
    ]
    for record in settings.stages:
        for parameter in record.parameters():
            unit_range = ", ".join(part for part in (parameter.unit, parameter.limits()) if part)
            lines += [
                f"   * - ``{parameter.key}``",
                f"     - ``{_toml_value(parameter.default)}``",
                f"     - {parameter.kind}",
                f"     - {unit_range}",
                f"     - {parameter.description} (``{type(record).stage}``)",
            ]
    return "\n".join(lines) + "\n"
