"""Stage settings as data: each stage declares its name and its typed, documented, validated parameters once.

A declaration is a frozen attrs record, a subclass of `StageSettings`, whose fields are made with
`parameter` (default, description, unit, range)::

    @attrs.frozen
    class CosmicRaySettings(StageSettings):
        \"\"\"mask_cosmic_rays: L.A.Cosmic on the calibrated frame.\"\"\"

        section: ClassVar[str] = "cosmic"
        stage: ClassVar[str] = "mask_cosmic_rays"

        sigclip: float = parameter(5.0, "Laplacian-to-noise threshold", unit="sigma", above=0.0)

The stage builder takes the record, computes with its fields and records them with
`StageSettings.step`, so the provenance is made of the values the stage ran with. `Settings`
holds one record per stage: the frozen, picklable value a run passes to its workers; the
settings table, ``lco-reduce config show`` and the TOML file all read the declarations.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeAlias, TypeVar, cast

import attrs

from lco_core.errors import LcoError
from lco_core.provenance import ParamValue, ProcessingStep

#: A setting's value: the scalar types TOML and the command line can state.
SettingValue: TypeAlias = bool | int | float | str
T = TypeVar("T", bool, int, float, str)
S = TypeVar("S", bound="StageSettings")

_META = "lco_core.parameter"
_KINDS: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class InvalidSettingError(LcoError, ValueError):
    """A setting's value of the wrong type or outside its range.

    Parameters
    ----------
    name : str
        The setting, ``section.parameter``.
    value : object
        The value given.
    problem : str
        What is wrong with it (``'not a number'``, ``'must be > 0'``).
    """

    def __init__(self, name: str, value: object, problem: str) -> None:
        self.name = name
        self.value = value
        self.problem = problem
        super().__init__(f"{name} = {value!r}: {problem}")


class UnknownSettingError(LcoError, KeyError):
    """A setting name no stage declares.

    Parameters
    ----------
    name : str
        The name given.
    suggestion : str or None
        The closest declared name, if one is close.
    """

    def __init__(self, name: str, suggestion: str | None) -> None:
        self.name = name
        self.suggestion = suggestion
        super().__init__(name)

    def __str__(self) -> str:
        hint = f" (did you mean {self.suggestion}?)" if self.suggestion else ""
        return f"unknown setting {self.name!r}{hint}"


def _number(value: float) -> str:
    return f"{value:g}"


@attrs.frozen
class Parameter:
    """One tunable of a stage: its type (that of the default), default, unit, range and meaning.

    Attributes
    ----------
    name : str
        The parameter's name within its stage (the record's field name).
    default : bool, int, float or str
        The value used when nothing else is said.
    description : str
        One line: what it does.
    unit : str
        Unit of a number ('' for none).
    minimum, maximum : float or None
        Inclusive bounds of a number.
    above : float or None
        Exclusive lower bound of a number.
    choices : tuple of str
        The values a text parameter may take (empty: any).
    section : str
        The stage's section (``cosmic`` in ``cosmic.sigclip``).
    """

    name: str
    default: SettingValue
    description: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    choices: tuple[str, ...] = ()
    section: str = ""

    @property
    def key(self) -> str:
        """The setting's full name, ``section.parameter``."""
        return f"{self.section}.{self.name}"

    @property
    def kind(self) -> str:
        """``'bool'``, ``'int'``, ``'float'`` or ``'str'``: the type of the default."""
        return _KINDS[type(self.default)]

    def limits(self) -> str:
        """The allowed values in words, e.g. ``'> 0'``, ``'1 to 10'``, ``'mean, rows'`` ('' for any).

        Returns
        -------
        str
        """
        if self.choices:
            return ", ".join(self.choices)
        if self.above is None and self.minimum is not None and self.maximum is not None:
            return f"{_number(self.minimum)} to {_number(self.maximum)}"
        parts = [f"> {_number(self.above)}"] if self.above is not None else []
        parts += [f">= {_number(self.minimum)}"] if self.minimum is not None else []
        parts += [f"<= {_number(self.maximum)}"] if self.maximum is not None else []
        return " and ".join(parts)

    def _problem(self, value: object) -> str | None:
        kind = self.kind
        if kind == "bool":
            return None if isinstance(value, bool) else "not true or false"
        if kind == "str":
            if not isinstance(value, str):
                return "not text"
            if self.choices and value not in self.choices:
                return f"must be one of {', '.join(self.choices)}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "not a whole number" if kind == "int" else "not a number"
        if kind == "int" and not isinstance(value, int):
            return "not a whole number"
        if not math.isfinite(value):
            return "not a finite number"
        outside = (
            (self.above is not None and not value > self.above)
            or (self.minimum is not None and value < self.minimum)
            or (self.maximum is not None and value > self.maximum)
        )
        if not outside:
            return None
        if self.above is None and self.minimum is not None and self.maximum is not None:
            return f"must be within [{_number(self.minimum)}, {_number(self.maximum)}]"
        return f"must be {self.limits()}"

    def check(self, value: object) -> SettingValue:
        """``value`` as this parameter's type, validated (an int is taken for a float).

        Parameters
        ----------
        value : object
            A value from Python or a TOML file.

        Returns
        -------
        bool, int, float or str

        Raises
        ------
        InvalidSettingError
            Wrong type, not finite, or out of range.
        """
        if self.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        problem = self._problem(value)
        if problem is not None:
            raise InvalidSettingError(self.key, value, problem)
        return cast(SettingValue, value)

    def parse(self, text: str) -> SettingValue:
        """A value from command-line text (``'5'``, ``'true'``, ``'rows'``), validated.

        Parameters
        ----------
        text : str
            The text after ``=`` in ``-p section.parameter=text``.

        Returns
        -------
        bool, int, float or str

        Raises
        ------
        InvalidSettingError
            Text that is not of the parameter's type, or a value out of range.
        """
        value: object = text
        stripped = text.strip()
        if self.kind == "bool":
            if stripped.lower() in _TRUE:
                value = True
            elif stripped.lower() in _FALSE:
                value = False
        elif self.kind == "int":
            try:
                value = int(stripped)
            except ValueError:
                raise InvalidSettingError(self.key, text, "not a whole number") from None
        elif self.kind == "float":
            try:
                value = float(stripped)
            except ValueError:
                raise InvalidSettingError(self.key, text, "not a number") from None
        return self.check(value)


def _normalise(value: object) -> object:
    # A float parameter given an int (TOML's 5, Python's 5) holds 5.0, so that what is recorded
    # has the declared type; everything else is checked as it is.
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _validate(instance: StageSettings, attribute: attrs.Attribute[Any], value: object) -> None:
    type(instance).parameter(attribute.name).check(value)


def parameter(
    default: T,
    description: str,
    *,
    unit: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    choices: Sequence[str] = (),
) -> T:
    """Declare one field of a `StageSettings` record: its default, meaning, unit and range.

    Parameters
    ----------
    default : bool, int, float or str
        The default; its type is the parameter's type.
    description : str
        One line: what the parameter does.
    unit : str
        Unit of a number.
    minimum, maximum : float, optional
        Inclusive bounds.
    above : float, optional
        Exclusive lower bound.
    choices : sequence of str
        Allowed values of a text parameter.

    Returns
    -------
    bool, int, float or str
        Typed as the default for the type checker; at run time an attrs field that converts
        and validates every value the record is made with.

    Raises
    ------
    InvalidSettingError
        The default itself is not valid (a declaration error, found at import).
    """
    spec = Parameter(
        "", default, description, unit=unit, minimum=minimum, maximum=maximum, above=above,
        choices=tuple(choices),
    )  # fmt: skip
    spec.check(default)
    converter = _normalise if isinstance(default, float) else None
    field: T = attrs.field(default=default, converter=converter, validator=_validate, metadata={_META: spec})
    return field


@attrs.frozen
class StageSettings:
    """Base of a stage's declaration: ``section`` and ``stage`` name it, `parameter` fields hold its values.

    Subclasses are frozen attrs records; making one (or `updated`) validates every value.
    ``section`` is the settings' prefix (``cosmic`` in ``cosmic.sigclip``), ``stage`` the name
    its `~lco_core.provenance.ProcessingStep` entries carry; the first line of the class
    docstring describes the stage.
    """

    section: ClassVar[str] = ""
    stage: ClassVar[str] = ""

    @classmethod
    def parameters(cls) -> tuple[Parameter, ...]:
        """The declared parameters, in declaration order, named and sectioned.

        Returns
        -------
        tuple of Parameter
        """
        return tuple(
            attrs.evolve(field.metadata[_META], name=field.name, section=cls.section)
            for field in attrs.fields(cls)
            if _META in field.metadata
        )

    @classmethod
    def parameter(cls, name: str) -> Parameter:
        """One declared parameter by its name within the stage.

        Parameters
        ----------
        name : str
            E.g. ``'sigclip'``.

        Returns
        -------
        Parameter

        Raises
        ------
        UnknownSettingError
            The stage declares no such parameter.
        """
        for spec in cls.parameters():
            if spec.name == name:
                return spec
        key = f"{cls.section}.{name}"
        raise UnknownSettingError(key, _closest(key, [p.key for p in cls.parameters()]))

    @classmethod
    def summary(cls) -> str:
        """The first line of the declaration's docstring: what the stage does.

        Returns
        -------
        str
        """
        return (cls.__doc__ or cls.stage).strip().splitlines()[0]

    def values(self) -> dict[str, SettingValue]:
        """Every parameter's value, by name, in declaration order.

        Returns
        -------
        dict
        """
        return {spec.name: getattr(self, spec.name) for spec in self.parameters()}

    def updated(self: S, values: Mapping[str, object]) -> S:
        """A copy with some parameters changed (by name within the stage), validated.

        Parameters
        ----------
        values : mapping of str to object
            New values.

        Returns
        -------
        StageSettings
            Of the same declaration.

        Raises
        ------
        UnknownSettingError
            A name the stage does not declare.
        InvalidSettingError
            A value of the wrong type or out of range.
        """
        checked = {name: self.parameter(name).check(value) for name, value in values.items()}
        return attrs.evolve(self, **checked)

    def step(
        self,
        diagnostics: Mapping[str, ParamValue] | None = None,
        masters: tuple[str, ...] = (),
        *,
        stage: str | None = None,
        facts: Mapping[str, ParamValue] | None = None,
        also: Iterable[StageSettings] = (),
    ) -> ProcessingStep:
        """The `~lco_core.provenance.ProcessingStep` of a run of this stage with these values.

        Parameters
        ----------
        diagnostics : mapping, optional
            What the stage measured.
        masters : tuple of str
            File names of the masters it applied.
        stage : str, optional
            The recorded name, when one declaration serves a family (``make_master_bias``);
            default `stage`.
        facts : mapping, optional
            Further inputs that are no settings (the camera's read noise, the pixel scale).
        also : iterable of StageSettings
            Other declarations the stage applied, recorded beside this one.

        Returns
        -------
        ProcessingStep
            Its parameters: every declared value, then ``facts``.

        Raises
        ------
        ValueError
            Two declarations, or a declaration and a fact, share a name.
        """
        parameters: dict[str, ParamValue] = {}
        parts: list[Mapping[str, ParamValue]] = [self.values(), *(other.values() for other in also)]
        for values in [*parts, facts or {}]:
            clash = set(parameters) & set(values)
            if clash:
                raise ValueError(f"{self.stage}: parameters recorded twice: {sorted(clash)}")
            parameters |= values
        return ProcessingStep(stage or self.stage, parameters, diagnostics or {}, masters)


def documented(declaration: type[S]) -> type[S]:
    """Give a declaration's docstring a numpydoc Parameters section made from its parameters.

    Apply it outside ``attrs.frozen``; the descriptions, types, units, ranges and defaults are
    the declared ones, so the API reference never disagrees with the code.

    Parameters
    ----------
    declaration : type
        A `StageSettings` subclass.

    Returns
    -------
    type
        The same class.
    """
    lines = ["", "Parameters", "----------"]
    for spec in declaration.parameters():
        facts = "; ".join(part for part in (spec.unit, spec.limits()) if part)
        lines += [
            f"{spec.name} : {spec.kind}",
            f"    {spec.description[:1].upper()}{spec.description[1:]} (``{spec.key}``"
            f"{'; ' + facts if facts else ''}; default {spec.default!r}).",
        ]
    declaration.__doc__ = inspect.cleandoc(declaration.__doc__ or declaration.stage) + "\n" + "\n".join(lines)
    return declaration


def _closest(name: str, names: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return close[0]
    # A parameter named without its section, or in the wrong one: match on the last part.
    tail = name.rsplit(".", 1)[-1]
    same = [n for n in names if n.rsplit(".", 1)[-1] == tail]
    return same[0] if len(same) == 1 else None


def _stages(records: Iterable[StageSettings]) -> tuple[StageSettings, ...]:
    return tuple(records)


def _unique_sections(instance: Settings, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    sections = [type(stage).section for stage in value]
    repeated = sorted({s for s in sections if sections.count(s) > 1})
    if repeated:
        raise ValueError(f"settings of one section given twice: {repeated}")


@attrs.frozen
class Settings:
    """Every stage's settings: one `StageSettings` record per declaration, a frozen, picklable value.

    A declaration not held is at its defaults (`of`), so ``Settings()`` is "every default". A
    run holds every declaration (`lco_stages.settings.DEFAULT_SETTINGS`), so that names can be
    looked up and listed.

    Attributes
    ----------
    stages : tuple of StageSettings
        The records, in pipeline order.
    """

    stages: tuple[StageSettings, ...] = attrs.field(default=(), converter=_stages, validator=_unique_sections)

    def of(self, declaration: type[S]) -> S:
        """The record of one declaration (its defaults when not held).

        Parameters
        ----------
        declaration : type
            A `StageSettings` subclass, e.g. ``CosmicRaySettings``.

        Returns
        -------
        StageSettings
            An instance of ``declaration``.
        """
        for record in self.stages:
            if isinstance(record, declaration) and type(record) is declaration:
                return record
        return declaration()

    def parameters(self) -> tuple[Parameter, ...]:
        """Every declared parameter, in pipeline order.

        Returns
        -------
        tuple of Parameter
        """
        return tuple(spec for record in self.stages for spec in record.parameters())

    def parameter(self, name: str) -> Parameter:
        """A parameter by its full name.

        Parameters
        ----------
        name : str
            ``section.parameter``.

        Returns
        -------
        Parameter

        Raises
        ------
        UnknownSettingError
            No such setting; the closest name is suggested.
        """
        for spec in self.parameters():
            if spec.key == name:
                return spec
        raise UnknownSettingError(name, _closest(name, [p.key for p in self.parameters()]))

    def value(self, name: str) -> SettingValue:
        """A setting's value by its full name.

        Parameters
        ----------
        name : str
            ``section.parameter``.

        Returns
        -------
        bool, int, float or str

        Raises
        ------
        UnknownSettingError
            No such setting.
        """
        spec = self.parameter(name)
        record = next(r for r in self.stages if type(r).section == spec.section)
        return cast(SettingValue, getattr(record, spec.name))

    def updated(self, values: Mapping[str, object]) -> Settings:
        """A copy with settings changed by full name, every value validated.

        Parameters
        ----------
        values : mapping of str to object
            ``{'cosmic.sigclip': 8.0, ...}``; values of their parameter's type (an int serves
            for a float).

        Returns
        -------
        Settings

        Raises
        ------
        UnknownSettingError
            A name no held declaration declares.
        InvalidSettingError
            A value of the wrong type or out of range.
        """
        changes: dict[str, dict[str, object]] = {}
        for name, value in values.items():
            spec = self.parameter(name)
            changes.setdefault(spec.section, {})[spec.name] = spec.check(value)
        return Settings(
            tuple(
                record.updated(changes[type(record).section]) if type(record).section in changes else record
                for record in self.stages
            )
        )

    def as_dict(self) -> dict[str, dict[str, SettingValue]]:
        """Every value by section and name (for summary.json and TOML).

        Returns
        -------
        dict
        """
        return {type(record).section: record.values() for record in self.stages}
