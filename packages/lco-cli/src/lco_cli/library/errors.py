"""Errors of the calibration library: one line each, naming the database or the master asked for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from lco_cli.library.records import MasterEntry
from lco_core.calibration_rules import CAMERA, SET_TEMPERATURE, FactValue, MasterRule, Match, rule_for
from lco_core.errors import LcoError
from lco_core.master import MasterKind


class LibraryError(LcoError):
    """The calibration library cannot do what was asked (bad input, unreachable database, no such row)."""


class LibraryNotFoundError(LibraryError):
    """A library opened to be read (``create=False``) does not exist: no file, or no tables in it.

    Parameters
    ----------
    database : str
        The database (password hidden), or the path the person gave.
    hint : str
        What to do about it, e.g. ``run `lco-reduce run ... --out reduced` first``.
    """

    def __init__(self, database: str, hint: str = "") -> None:
        self.database = database
        self.hint = hint
        super().__init__(f"{database}: no calibration library there" + (f" ({hint})" if hint else ""))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.database, self.hint))


class SchemaTooNewError(LibraryError):
    """The database was written by a newer lco-reduce whose schema this code does not understand.

    Parameters
    ----------
    database : str
        The database (password hidden).
    stored : int
        Its schema version.
    understood : int
        `~lco_cli.library.schema.SCHEMA_VERSION`.
    """

    def __init__(self, database: str, stored: int, understood: int) -> None:
        self.database = database
        self.stored = stored
        self.understood = understood
        super().__init__(
            f"{database}: calibration library schema version {stored} is newer than this lco-reduce "
            f"understands ({understood}); upgrade lco-reduce or pass --db with another library"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Process pools pickle errors: rebuild from the fields, not from the formatted message.
        return (type(self), (self.database, self.stored, self.understood))


class MasterChangedError(LibraryError):
    """A registered master's file is missing, or its SHA-256 is no longer the one registered.

    Parameters
    ----------
    path : str
        The master file.
    master_id : int
        Its row id (what ``lco-reduce calibrations mark-bad`` takes).
    missing : bool
        True when the file is gone, False when its contents changed.
    """

    def __init__(self, path: str, master_id: int, *, missing: bool) -> None:
        self.path = path
        self.master_id = master_id
        self.missing = missing
        what = (
            "master file is missing"
            if missing
            else "master file changed on disk since it was registered (SHA-256 differs)"
        )
        super().__init__(
            f"{path}: {what}; re-run its night or `lco-reduce calibrations mark-bad {master_id}`"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_changed, (self.path, self.master_id, self.missing))


def _rebuild_changed(path: str, master_id: int, missing: bool) -> MasterChangedError:
    return MasterChangedError(path, master_id, missing=missing)


class MasterNotFoundError(LibraryError):
    """No good master suits a frame; ``closest`` is the nearest near-miss of the same camera and kind.

    The message names the request and how the closest candidate differs, both in the words of
    the kind's rule (`lco_core.calibration_rules`), e.g. ``no good master skyflat for fa99
    binning 1x1 mode full_frame filter 'rp' (closest: 2026-01-02 for filter 'ip')``.

    Parameters
    ----------
    kind : MasterKind
        The kind asked for.
    wanted : mapping of str to value
        The frame's value of every fact the rule matches, by fact name
        (`~lco_core.calibration_rules.MasterRule.wanted`): its INSTRUME as ``'camera'``, ...
    date_obs : datetime.datetime
        The frame's DATE-OBS.
    closest : MasterEntry, optional
        The nearest near-miss.
    rule : MasterRule, optional
        The rule that was applied: by default the kind's in
        `~lco_core.calibration_rules.RULES` (a selection may have asked for another tolerance).
    """

    def __init__(
        self,
        kind: MasterKind,
        *,
        wanted: Mapping[str, FactValue],
        date_obs: dt.datetime,
        closest: MasterEntry | None = None,
        rule: MasterRule | None = None,
    ) -> None:
        self.kind = kind
        self.wanted = dict(wanted)
        self.date_obs = date_obs
        self.closest = closest
        self.rule = rule if rule is not None else rule_for(kind)
        super().__init__(
            f"no good master {kind.value} for {self.rule.request(self.wanted)} ({self.near_miss})"
        )

    @property
    def camera(self) -> str:
        """The frame's INSTRUME."""
        return str(self.wanted.get(CAMERA.name, ""))

    @property
    def near_miss(self) -> str:
        """The closest candidate and how it differs (``closest: 2026-01-02 for filter 'ip'``)."""
        closest = self.closest
        if closest is None:
            return f"no {self.kind.value} masters registered for {self.camera}"
        facts = master_facts(closest)
        differences = [
            match.fact.labelled(match.fact.show(facts.get(match.fact.name)))
            for match in self.rule.unmet(facts, self.wanted)
        ]
        text = f"closest: {closest.date_obs:%Y-%m-%d}"
        if differences:
            text += " for " + ", ".join(differences)
        if not closest.good:
            text += ", marked bad"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_not_found, (self.kind, self.wanted, self.date_obs, self.closest, self.rule))


def _rebuild_not_found(
    kind: MasterKind,
    wanted: dict[str, FactValue],
    date_obs: dt.datetime,
    closest: MasterEntry | None,
    rule: MasterRule,
) -> MasterNotFoundError:
    return MasterNotFoundError(kind, wanted=wanted, date_obs=date_obs, closest=closest, rule=rule)


def master_facts(entry: MasterEntry) -> dict[str, object]:
    """A registered master's facts by name, as the rules compare them with a frame's.

    Parameters
    ----------
    entry : MasterEntry
        The master.

    Returns
    -------
    dict of str to object
    """
    return attrs.asdict(entry, recurse=False)


def temperature_matches(master: float | None, wanted: float | None, tolerance: float) -> bool:
    """Whether a dark at set temperature ``master`` (deg C) serves a frame at ``wanted``.

    The comparison of `lco_core.calibration_rules.Match` on the set temperature within
    ``tolerance``: an unknown temperature on either side matches, since the rule can only be
    applied when both are known. The rules themselves (which kinds compare it, and the
    tolerance) are `lco_core.calibration_rules.RULES`.

    Parameters
    ----------
    master : float or None
        The dark's set temperature, degrees Celsius.
    wanted : float or None
        The frame's set temperature, degrees Celsius.
    tolerance : float
        Largest difference, degrees Celsius.

    Returns
    -------
    bool
    """
    return Match(SET_TEMPERATURE, tolerance=tolerance).matches(master, wanted)
