"""Errors of the calibration library: one line each, naming the database or the master asked for."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lco_cli.library.records import MasterEntry
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
    """No good master matches a frame; ``closest`` is the nearest near-miss of the same camera and kind.

    The message names the request and how the closest candidate differs, e.g.
    ``no good master skyflat for fa99 binning 1x1 mode full_frame filter 'rp' (closest: 2026-01-02
    for filter 'ip')``.

    Parameters
    ----------
    kind : MasterKind
        The kind asked for.
    camera, binning, configuration_mode : str
        The frame's INSTRUME, binning ('1x1') and CONFMODE.
    date_obs : datetime.datetime
        The frame's DATE-OBS.
    filter : str, optional
        Its FILTER (flats).
    set_temperature : float, optional
        Its CCDSTEMP, degrees Celsius (darks).
    temperature_tolerance : float
        Degrees Celsius.
    closest : MasterEntry, optional
        The nearest near-miss.
    """

    def __init__(
        self,
        kind: MasterKind,
        *,
        camera: str,
        binning: str,
        configuration_mode: str,
        date_obs: dt.datetime,
        filter: str | None = None,
        set_temperature: float | None = None,
        temperature_tolerance: float = 1.0,
        closest: MasterEntry | None = None,
    ) -> None:
        self.kind = kind
        self.camera = camera
        self.binning = binning
        self.configuration_mode = configuration_mode
        self.date_obs = date_obs
        self.filter = filter
        self.set_temperature = set_temperature
        self.temperature_tolerance = temperature_tolerance
        self.closest = closest
        asked = f"no good master {kind.value} for {camera} binning {binning} mode {configuration_mode}"
        if kind is MasterKind.SKYFLAT:
            asked += f" filter {filter!r}"
        if kind is MasterKind.DARK and set_temperature is not None:
            asked += f" set temperature {set_temperature:g}+/-{temperature_tolerance:g} C"
        super().__init__(f"{asked} ({self._describe_closest()})")

    def _describe_closest(self) -> str:
        closest = self.closest
        if closest is None:
            return f"no {self.kind.value} masters registered for {self.camera}"
        differences = []
        if closest.binning != self.binning:
            differences.append(f"binning {closest.binning}")
        if closest.configuration_mode != self.configuration_mode:
            differences.append(f"mode {closest.configuration_mode}")
        if self.kind is MasterKind.SKYFLAT and closest.filter != self.filter:
            differences.append(f"filter {closest.filter!r}")
        if self.kind is MasterKind.DARK and not temperature_matches(
            closest.set_temperature, self.set_temperature, self.temperature_tolerance
        ):
            differences.append(f"set temperature {closest.set_temperature:g} C")
        text = f"closest: {closest.date_obs:%Y-%m-%d}"
        if differences:
            text += " for " + ", ".join(differences)
        if not closest.good:
            text += ", marked bad"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {name: getattr(self, name) for name in _NOT_FOUND_FIELDS}
        return (_rebuild_not_found, (self.kind, fields))


_NOT_FOUND_FIELDS = (
    "camera",
    "binning",
    "configuration_mode",
    "date_obs",
    "filter",
    "set_temperature",
    "temperature_tolerance",
    "closest",
)


def _rebuild_not_found(kind: MasterKind, fields: dict[str, Any]) -> MasterNotFoundError:
    return MasterNotFoundError(kind, **fields)


def temperature_matches(master: float | None, wanted: float | None, tolerance: float) -> bool:
    """Whether a dark at set temperature ``master`` (deg C) serves a frame at ``wanted``.

    An unknown temperature on either side matches: the rule can only be applied when both are known.

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
    return master is None or wanted is None or abs(master - wanted) <= tolerance
