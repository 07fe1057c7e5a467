"""The calibration rules, once: the masters each OBSTYPE needs, which suits a frame, which frames make one.

One typed table in the spirit of BANZAI's ``CALIBRATION_SET_CRITERIA``: per master kind, the facts
a master must share with the frame it serves (`MasterRule.match`, some within a tolerance), the
further facts the frames stacked into one master share (`MasterRule.group`) and the time by
which the closest suitable master is chosen (`MasterRule.closest_in`); and per OBSTYPE, the
masters its recipe needs (`NEEDS`, as `lco_stages.recipes` applies them). The night's grouping,
the calibration library's selection queries, its explanation when no master suits, ``lco-reduce
info`` and docs/calibration-library.rst all read this table (docs/architecture.rst,
"Calibration library"), so a rule changed here changes all of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from lco_core.master import MasterKind
from lco_core.meta import FrameMeta, ObsType
from lco_core.section import Binning

#: A fact's value: text, a number, a date or a time (UTC); None when the headers do not say.
FactValue = str | float | dt.date | None


@attrs.frozen
class Fact:
    """A fact the headers give a frame and the calibration library keeps for a master.

    Attributes
    ----------
    name : str
        Its attribute on `~lco_cli.library.records.MasterEntry` and column of the library's
        ``masters`` table (e.g. ``'set_temperature'``).
    keyword : str
        The header keyword it is read from (``'CCDSTEMP'``).
    title : str
        What the documentation calls it (``'set temperature'``).
    label : str
        What a message calls it before its value (``'set temperature'``); '' shows the value
        alone, as for the camera (``'fa99'``).
    meta_name : str
        Its attribute on `~lco_core.meta.FrameMeta` (``'ccd_set_temperature'``).
    stored : bool
        Whether the library keeps it for a master (it then can be matched).
    numeric : bool
        A number (it then can be matched within a tolerance).
    unit : str
        Unit of a number (``'C'``).
    quoted : bool
        Messages show the value quoted (``filter 'rp'``).
    """

    name: str
    keyword: str
    title: str
    label: str
    meta_name: str
    stored: bool = True
    numeric: bool = False
    unit: str = ""
    quoted: bool = False

    def of(self, meta: FrameMeta) -> FactValue:
        """The frame's value (binning as text, ``'2x2'``).

        Parameters
        ----------
        meta : FrameMeta
            The frame.

        Returns
        -------
        str, float, datetime.date or None
        """
        value: FactValue | Binning = getattr(meta, self.meta_name)
        return str(value) if isinstance(value, Binning) else value

    def show(self, value: object) -> str:
        """A value as messages write it: ``'rp'`` quoted, ``-20 C``, ``1x1``.

        Parameters
        ----------
        value : object
            The value.

        Returns
        -------
        str
        """
        if self.quoted:
            return repr(value)
        if self.numeric and isinstance(value, int | float):
            return f"{value:g}" + (f" {self.unit}" if self.unit else "")
        return str(value)

    def labelled(self, text: str) -> str:
        """``text`` after the fact's label (``'binning 1x1'``), or alone when it has none.

        Parameters
        ----------
        text : str
            The value as shown.

        Returns
        -------
        str
        """
        return f"{self.label} {text}" if self.label else text


SITE = Fact("site", "SITEID", "site", "site", "site")
TELESCOPE = Fact("telescope", "TELESCOP", "telescope", "telescope", "telescope")
CAMERA = Fact("camera", "INSTRUME", "camera", "", "camera")
BINNING = Fact("binning", "CCDSUM", "binning", "binning", "binning")
CONFIGURATION_MODE = Fact(
    "configuration_mode", "CONFMODE", "configuration mode", "mode", "configuration_mode"
)
FILTER = Fact("filter", "FILTER", "filter", "filter", "filter", quoted=True)
SET_TEMPERATURE = Fact(
    "set_temperature", "CCDSTEMP", "set temperature", "set temperature", "ccd_set_temperature",
    numeric=True, unit="C",
)  # fmt: skip
DAY_OBS = Fact("day_obs", "DAY-OBS", "night", "night", "day_obs", stored=False)
DATE_OBS = Fact("date_obs", "DATE-OBS", "time", "at", "date_obs")

#: Every fact, in the order the rules table and messages list them.
FACTS = (CAMERA, BINNING, CONFIGURATION_MODE, FILTER, SET_TEMPERATURE, SITE, TELESCOPE, DAY_OBS)


def _tolerance(match: Match, _: object, tolerance: float | None) -> None:
    if tolerance is None:
        return
    if not match.fact.numeric:
        raise ValueError(f"{match.fact.title} is not a number: it cannot be matched within a tolerance")
    if not tolerance >= 0:
        raise ValueError(f"tolerance {tolerance} {match.fact.unit} of {match.fact.title} must be >= 0")


@attrs.frozen
class Match:
    """A fact a master must share with the frame it serves.

    Attributes
    ----------
    fact : Fact
        What is compared.
    tolerance : float or None
        None: the values must be equal (None equal to None). A number: they must be within it
        (units of the fact), and an unknown value on either side matches, since the rule can
        only be applied when both are known.
    """

    fact: Fact
    tolerance: float | None = attrs.field(default=None, validator=_tolerance)

    def matches(self, master: object, frame: object) -> bool:
        """Whether a master whose value is ``master`` serves a frame whose value is ``frame``.

        Parameters
        ----------
        master, frame : object
            The two values.

        Returns
        -------
        bool
        """
        if self.tolerance is None:
            return master == frame
        if not isinstance(master, int | float) or not isinstance(frame, int | float):
            return True
        return abs(master - frame) <= self.tolerance

    def wanted(self, value: object) -> str:
        """What a frame asks for, as messages write it: ``binning 1x1``, ``set temperature -100+/-1 C``.

        Parameters
        ----------
        value : object
            The frame's value.

        Returns
        -------
        str
        """
        if self.tolerance is None or not isinstance(value, int | float):
            return self.fact.labelled(self.fact.show(value))
        unit = f" {self.fact.unit}" if self.fact.unit else ""
        return self.fact.labelled(f"{value:g}+/-{self.tolerance:g}{unit}")

    def describe(self) -> str:
        """The rule in words (documentation): ``must match``, ``must be within 1 C (when both are known)``."""
        if self.tolerance is None:
            return "must match"
        unit = f" {self.fact.unit}" if self.fact.unit else ""
        return f"must be within {self.tolerance:g}{unit} (when both are known)"


def _rule_is_usable(rule: MasterRule, _: object, match: tuple[Match, ...]) -> None:
    facts = [m.fact for m in match]
    camera = rule_match(match, CAMERA)
    if camera is None or camera.tolerance is not None:
        raise ValueError(f"master {rule.kind.value}: a master serves only its own camera (match CAMERA)")
    if len(set(facts)) != len(facts):
        raise ValueError(f"master {rule.kind.value}: a fact is matched twice")
    for fact in facts:
        if not fact.stored:
            raise ValueError(f"master {rule.kind.value}: the library does not keep {fact.title}")


def rule_match(match: tuple[Match, ...], fact: Fact) -> Match | None:
    """The match on ``fact`` among ``match``, or None.

    Parameters
    ----------
    match : tuple of Match
        A rule's matches.
    fact : Fact
        The fact.

    Returns
    -------
    Match or None
    """
    return next((m for m in match if m.fact == fact), None)


@attrs.frozen
class MasterRule:
    """Which master of one kind suits a frame, and which frames are stacked into one.

    Attributes
    ----------
    kind : MasterKind
        Bias, dark or sky flat.
    match : tuple of Match
        What a master must share with a frame to serve it (always the camera). A master must
        also not be marked bad.
    group : tuple of Fact
        What the frames stacked into one master share besides the facts ``match`` wants equal
        (a fact matched within a tolerance does not split a night's frames: quality control
        holds each frame to its own set point).
    closest_in : Fact
        Among the suitable masters, the one whose value of this time is closest to the
        frame's, before or after, serves it; equally close ones are separated by the newest
        registration, then the highest library id.
    """

    kind: MasterKind
    match: tuple[Match, ...] = attrs.field(validator=_rule_is_usable)
    group: tuple[Fact, ...] = ()
    closest_in: Fact = DATE_OBS

    def matching(self, fact: Fact) -> Match | None:
        """The rule's match on ``fact``, or None when the fact does not matter for this kind.

        Parameters
        ----------
        fact : Fact
            The fact.

        Returns
        -------
        Match or None
        """
        return rule_match(self.match, fact)

    def with_tolerance(self, fact: Fact, tolerance: float) -> MasterRule:
        """The rule with ``fact`` matched within ``tolerance`` instead (unchanged when it is not matched).

        Parameters
        ----------
        fact : Fact
            A numeric fact.
        tolerance : float
            Units of the fact.

        Returns
        -------
        MasterRule
        """
        match = tuple(attrs.evolve(m, tolerance=tolerance) if m.fact == fact else m for m in self.match)
        return attrs.evolve(self, match=match)

    def wanted(self, meta: FrameMeta) -> dict[str, FactValue]:
        """The frame's value of every fact a master must match, by fact name.

        Parameters
        ----------
        meta : FrameMeta
            The frame.

        Returns
        -------
        dict of str to value
        """
        return {m.fact.name: m.fact.of(meta) for m in self.match}

    def unmet(self, master: Mapping[str, object], wanted: Mapping[str, object]) -> tuple[Match, ...]:
        """The matches a master fails for a frame.

        Parameters
        ----------
        master : mapping of str to object
            The master's facts by name (e.g. a registered master's fields).
        wanted : mapping of str to object
            The frame's, as `wanted` gives them.

        Returns
        -------
        tuple of Match
        """
        return tuple(m for m in self.match if not m.matches(master.get(m.fact.name), wanted.get(m.fact.name)))

    def suits(self, master: FrameMeta, frame: FrameMeta) -> bool:
        """Whether a master made of frames like ``master`` serves ``frame`` (before it is registered).

        Parameters
        ----------
        master : FrameMeta
            A frame the master is made of.
        frame : FrameMeta
            The frame to calibrate.

        Returns
        -------
        bool
        """
        return not self.unmet(self.wanted(master), self.wanted(frame))

    def request(self, wanted: Mapping[str, object]) -> str:
        """What a frame asks of a master in words: ``fa99 binning 1x1 mode full_frame filter 'rp'``.

        A fact matched within a tolerance whose value the frame does not know asks nothing and
        is left out.

        Parameters
        ----------
        wanted : mapping of str to object
            The frame's facts, as `wanted` gives them.

        Returns
        -------
        str
        """
        words = []
        for m in self.match:
            value = wanted.get(m.fact.name)
            if m.tolerance is not None and value is None:
                continue
            words.append(m.wanted(value))
        return " ".join(words)

    def grouped_by(self) -> tuple[Fact, ...]:
        """The facts the frames stacked into one master share: those matched exactly, then `group`.

        Returns
        -------
        tuple of Fact
        """
        exact = tuple(m.fact for m in self.match if m.tolerance is None)
        return exact + tuple(fact for fact in self.group if fact not in exact)

    def group_key(self, meta: FrameMeta) -> tuple[FactValue, ...]:
        """What a calibration frame shares with the others stacked into the same master.

        Parameters
        ----------
        meta : FrameMeta
            A frame of this kind's OBSTYPE.

        Returns
        -------
        tuple
            One value per fact of `grouped_by`.
        """
        return tuple(fact.of(meta) for fact in self.grouped_by())


_SAME_SET_UP = (Match(CAMERA), Match(BINNING), Match(CONFIGURATION_MODE))
# A master is made of one night's frames of one telescope: a camera moved to another telescope
# (or back) between nights makes other masters.
_ONE_NIGHT = (SITE, TELESCOPE, DAY_OBS)

#: The rules by master kind.
RULES: Mapping[MasterKind, MasterRule] = MappingProxyType(
    {
        MasterKind.BIAS: MasterRule(MasterKind.BIAS, _SAME_SET_UP, _ONE_NIGHT),
        MasterKind.DARK: MasterRule(
            MasterKind.DARK, (*_SAME_SET_UP, Match(SET_TEMPERATURE, tolerance=1.0)), _ONE_NIGHT
        ),
        MasterKind.SKYFLAT: MasterRule(MasterKind.SKYFLAT, (*_SAME_SET_UP, Match(FILTER)), _ONE_NIGHT),
    }
)

#: The masters each reduced OBSTYPE is calibrated with, in the order they are applied
#: (`lco_stages.recipes`); a science frame's bad pixel mask is then made from its dark and flat.
NEEDS: Mapping[ObsType, tuple[MasterKind, ...]] = MappingProxyType(
    {
        ObsType.BIAS: (),
        ObsType.DARK: (MasterKind.BIAS,),
        ObsType.SKYFLAT: (MasterKind.BIAS, MasterKind.DARK),
        ObsType.EXPOSE: (MasterKind.BIAS, MasterKind.DARK, MasterKind.SKYFLAT),
        ObsType.STANDARD: (MasterKind.BIAS, MasterKind.DARK, MasterKind.SKYFLAT),
    }
)


def rule_for(kind: MasterKind) -> MasterRule:
    """The rule of a master kind (read from `RULES` at each call).

    Parameters
    ----------
    kind : MasterKind
        Bias, dark or sky flat.

    Returns
    -------
    MasterRule
    """
    return RULES[kind]


def masters_needed(obstype: ObsType) -> tuple[MasterKind, ...]:
    """The masters a frame of ``obstype`` is calibrated with (none for an OBSTYPE not reduced).

    Parameters
    ----------
    obstype : ObsType
        The frame's OBSTYPE.

    Returns
    -------
    tuple of MasterKind
    """
    return NEEDS.get(obstype, ())


def group_key(meta: FrameMeta, kind: MasterKind) -> tuple[FactValue, ...]:
    """What a calibration frame shares with the others stacked into its master (`MasterRule.group_key`).

    Parameters
    ----------
    meta : FrameMeta
        The frame.
    kind : MasterKind
        The master it goes into.

    Returns
    -------
    tuple
    """
    return rule_for(kind).group_key(meta)


_KIND_TITLES = {MasterKind.BIAS: "bias", MasterKind.DARK: "dark", MasterKind.SKYFLAT: "sky flat"}


def rules_table() -> str:
    """The rules of every master kind as a reStructuredText list table (for the documentation).

    Returns
    -------
    str
    """
    kinds = list(RULES)
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - fact",
        *(f"     - {_KIND_TITLES.get(kind, kind.value)}" for kind in kinds),
    ]
    for fact in FACTS:
        cells = []
        for kind in kinds:
            rule = RULES[kind]
            match = rule.matching(fact)
            grouped = fact in rule.grouped_by()
            words = [match.describe()] if match is not None else []
            words += ["grouped"] if grouped else []
            cells.append("; ".join(words))
        if any(cells):
            lines += [
                f"   * - {fact.title} (``{fact.keyword}``)",
                *(f"     - {cell}".rstrip() for cell in cells),
            ]
    lines += ["   * - not marked bad", *("     - yes" for _ in kinds)]
    lines += [
        "   * - closest in",
        *(f"     - ``{RULES[kind].closest_in.keyword}``" for kind in kinds),
    ]
    return "\n".join(lines) + "\n"


def needs_table() -> str:
    """The masters each reduced OBSTYPE needs as a reStructuredText list table (for the documentation).

    Returns
    -------
    str
    """
    lines = [".. list-table::", "   :header-rows: 1", "", "   * - OBSTYPE", "     - masters"]
    for obstype, kinds in NEEDS.items():
        lines += [
            f"   * - ``{obstype.value}``",
            f"     - {', '.join(_KIND_TITLES.get(kind, kind.value) for kind in kinds) or 'none'}",
        ]
    return "\n".join(lines) + "\n"
