"""Photon transfer: each amplifier's gain and read noise measured from a pair of biases and a pair of flats.

Janesick's method (*Photon Transfer*, SPIE Press 2007, ch. 5; the pair form LSST's ``cp_pipe`` and
ESO's detector monitoring use). Two biases ``B1, B2`` and two flats ``F1, F2`` of one amplifier, in
ADU, overscan-subtracted where the amplifier has an overscan, give

* the signal of the flats above bias, ``s_i = mean(F_i) - (mean(B1) + mean(B2)) / 2`` (ADU);
* ``r = s_1 / s_2``: the second flat is scaled to the first's level before differencing, which
  removes the flat-field pattern (``D = F1 - r F2``) however the levels differ;
* ``gain = (1 + r) s_1 / (var(D) - (1 + r**2) / 2 x var(B1 - B2))`` electrons per ADU, which is
  ``((mean F1 + mean F2) - (mean B1 + mean B2)) / (var(F1 - F2) - var(B1 - B2))`` at ``r = 1``:
  the Poisson variance of ``D`` in ADU**2 is ``(1 + r) s_1 / gain`` and its read variance is
  ``(1 + r**2)`` times one frame's, half of ``var(B1 - B2)``;
* ``read noise = gain x std(B1 - B2) / sqrt(2)`` electrons.

The fixed patterns (bias structure, flat response, hot pixels' dark current) cancel in the
differences. Means are `~lco_core.stats.sigma_clipped_mean` (3.5 sigma, as FLATLVL);
variances are `clipped_variance`: the sample variance of the values within ``nsigma`` robust
standard deviations of the median (stars that moved between dithered flats, cosmic rays and
hot pixels fall outside), divided by the variance a normal distribution keeps within that
window, so it is unbiased for Gaussian differences and nearly as precise as the plain variance
(the 1.4826 x MAD estimate is unbiased too, but 2.7 times noisier in variance). Only each
amplifier's central region (`PhotonTransferSettings.edge` cut from every side of its data
section) is used, without any pixel a frame masks (saturated, non-linear) or that is not finite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from lco_core.errors import LcoError
from lco_core.frame import AmplifierData, Frame
from lco_core.parameters import StageSettings, documented, parameter
from lco_core.pipeline import pipeline
from lco_core.provenance import ParamValue, ProcessingStep
from lco_core.stats import FRAME_LEVEL_NSIGMA, median, robust_std, sigma_clipped_mean
from lco_instruments.geometry import AmplifierGeometry, Camera
from lco_stages._checks import require_amplifiers
from lco_stages.overscan import OVERSCAN_DEFAULTS, OverscanSettings, subtract_overscan
from lco_stages.saturation import flag_saturated

#: The recorded name of a photon-transfer measurement (a master's history, a product's provenance).
STAGE = "measure_photon_transfer"


@documented
@attrs.frozen
class PhotonTransferSettings(StageSettings):
    """measure_photon_transfer: each night's gain and read noise from pairs of biases and sky flats."""

    section: ClassVar[str] = "photon_transfer"
    stage: ClassVar[str] = STAGE

    max_difference: float = parameter(
        0.05, "a header gain or read noise this far (relative) from the measured one is a warning",
        minimum=0.0, maximum=1.0,
    )  # fmt: skip
    use_measured: bool = parameter(
        False, "calibrate the night's frames with the measured gain and read noise instead of the header's"
    )
    edge: float = parameter(
        0.1, "fraction of each amplifier's data section left out on every side", minimum=0.0, maximum=0.4
    )
    nsigma: float = parameter(
        4.0, "clipping threshold of the pair differences' variances", unit="sigma", minimum=2.0
    )
    max_level_difference: float = parameter(
        0.1, "two flats whose levels above bias differ by more than this fraction are no pair",
        minimum=0.0, maximum=1.0,
    )  # fmt: skip
    max_flat_level: float = parameter(
        0.7, "flats brighter than this fraction of MAXLIN (raw ADU) are not used", above=0.0, maximum=1.0
    )
    min_flat_level: float = parameter(
        0.05, "flats fainter (above bias) than this fraction of MAXLIN are not used", minimum=0.0, maximum=1.0
    )


#: Every photon-transfer setting at its default.
PHOTON_TRANSFER_DEFAULTS = PhotonTransferSettings()


class PhotonTransferError(LcoError):
    """The frames given cannot measure a gain (too few, mismatched, too bright, too faint)."""


def _truncated_fraction(nsigma: float) -> float:
    """Variance of a unit normal kept within +-nsigma, over its whole variance."""
    kept = math.erf(nsigma / math.sqrt(2.0))
    density = math.exp(-0.5 * nsigma**2) / math.sqrt(2.0 * math.pi)
    return 1.0 - 2.0 * nsigma * density / kept


def _clip(array: npt.NDArray[np.float64], nsigma: float, maxiters: int) -> npt.NDArray[np.bool_]:
    """Which finite values of ``array`` lie within the ``nsigma`` window of `clipped_variance`."""
    finite = np.isfinite(array)
    if finite.sum() < 2:
        return finite
    fraction = _truncated_fraction(nsigma)
    with np.errstate(invalid="ignore"):
        kept = finite & (np.abs(array - median(array[finite])) <= nsigma * robust_std(array[finite]))
        for _ in range(maxiters):
            if kept.sum() < 2:
                break
            chosen = array[kept]
            spread = math.sqrt(float(chosen.var(ddof=1)) / fraction)
            again = finite & (np.abs(array - float(chosen.mean())) <= nsigma * spread)
            if np.array_equal(again, kept):
                break
            kept = again
    return kept


def clipped_variance(values: npt.ArrayLike, nsigma: float = 4.0, *, maxiters: int = 5) -> tuple[float, int]:
    """Variance of the values within ``nsigma`` standard deviations of their centre, unbiased for a normal.

    The window starts at ``nsigma`` x `~lco_core.stats.robust_std` (1.4826 x MAD) around the
    median and is then centred on the kept values' mean and set from the corrected variance
    itself, until the kept values stop changing (at most ``maxiters`` passes). The sample
    variance of the kept values is divided by the fraction of a normal distribution's variance
    that lies within +-``nsigma`` (0.9989 at 4 sigma), so the result is unbiased for normally
    distributed values, and its relative standard error is close to the plain variance's
    ``sqrt(2 / (n - 1))`` (the 1.4826 x MAD estimate squared is unbiased too, but needs 2.7
    times as many values for the same precision).

    Parameters
    ----------
    values : array_like
        Any shape; non-finite values are ignored.
    nsigma : float
        Half-width of the window, standard deviations (>= 2).
    maxiters : int
        Passes at most.

    Returns
    -------
    variance : float
        In the units of ``values`` squared; NaN when fewer than two values are kept.
    kept : int
        How many values it was computed from.
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    kept = _clip(array, nsigma, maxiters)
    if kept.sum() < 2:
        return math.nan, int(kept.sum())
    return float(array[kept].var(ddof=1)) / _truncated_fraction(nsigma), int(kept.sum())


@attrs.frozen
class AmplifierTransfer:
    """One amplifier's measured gain and read noise, beside the header's.

    Attributes
    ----------
    amplifier : int
        1-based amplifier number.
    gain, gain_error : float
        Measured gain and its 1-sigma statistical error, electrons per ADU.
    read_noise, read_noise_error : float
        Measured read noise and its 1-sigma statistical error, electrons.
    header_gain : float
        The gain the camera's headers (or defaults) state, electrons per ADU.
    header_read_noise : float
        The read noise they state, electrons.
    pixels : int
        Pixels of the flats' difference the variance was computed from.
    signal : float
        Mean level of the two flats above bias, ADU.
    """

    amplifier: int
    gain: float
    gain_error: float
    read_noise: float
    read_noise_error: float
    header_gain: float
    header_read_noise: float
    pixels: int
    signal: float

    @property
    def gain_difference(self) -> float:
        """``(header - measured) / measured`` of the gain: +0.10 when the header's is 10% too high."""
        return self.header_gain / self.gain - 1.0

    @property
    def read_noise_difference(self) -> float:
        """``(header - measured) / measured`` of the read noise."""
        return self.header_read_noise / self.read_noise - 1.0


def _percent(value: float) -> str:
    return f"{abs(value):.1%} {'above' if value > 0 else 'below'}"


@attrs.frozen
class PhotonTransfer:
    """A night's photon-transfer measurement of one camera set-up: every amplifier, and the frames used.

    Attributes
    ----------
    camera : str
        INSTRUME.
    binning : str
        ``'2x2'``...
    configuration_mode : str
        CONFMODE.
    filter : str
        FILTER of the flats.
    biases, flats : (str, str)
        File names of the pairs used.
    amplifiers : tuple of AmplifierTransfer
        One per amplifier, in readout order.
    max_difference : float
        The relative difference beyond which a figure is a warning (``photon_transfer.max_difference``).
    """

    camera: str
    binning: str
    configuration_mode: str
    filter: str
    biases: tuple[str, str]
    flats: tuple[str, str]
    amplifiers: tuple[AmplifierTransfer, ...]
    max_difference: float = PHOTON_TRANSFER_DEFAULTS.max_difference

    def warnings_of(self, amp: AmplifierTransfer) -> tuple[str, ...]:
        """The warnings of one amplifier: its header gain or read noise beyond ``max_difference``.

        Parameters
        ----------
        amp : AmplifierTransfer
            One of `amplifiers`.

        Returns
        -------
        tuple of str
            One line each, naming the camera, the amplifier, both values and the difference.
        """
        where = f"{self.camera} {self.binning} amplifier {amp.amplifier}"
        limit = (
            f"limit {self.max_difference:.0%}; photon transfer of {', '.join((*self.biases, *self.flats))}"
        )
        lines = []
        if abs(amp.gain_difference) > self.max_difference:
            lines.append(
                f"{where}: the header's gain {amp.header_gain:.3f} e-/ADU is {_percent(amp.gain_difference)} "
                f"the measured {amp.gain:.3f} +- {amp.gain_error:.3f} e-/ADU ({limit})"
            )
        if abs(amp.read_noise_difference) > self.max_difference:
            lines.append(
                f"{where}: the header's read noise {amp.header_read_noise:.2f} e- is "
                f"{_percent(amp.read_noise_difference)} the measured {amp.read_noise:.2f} +- "
                f"{amp.read_noise_error:.2f} e- ({limit})"
            )
        return tuple(lines)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every amplifier's warnings (`warnings_of`), one line each; empty when all agree."""
        return tuple(line for amp in self.amplifiers for line in self.warnings_of(amp))

    def figures(self) -> dict[str, float]:
        """The measured and header values by amplifier, as a master's figures and history record them.

        Returns
        -------
        dict of str to float
            ``gain_ampN``, ``gain_error_ampN``, ``header_gain_ampN`` (e-/ADU), ``read_noise_ampN``,
            ``read_noise_error_ampN``, ``header_read_noise_ampN`` (e-).
        """
        figures: dict[str, float] = {}
        for amp in self.amplifiers:
            n = amp.amplifier
            figures |= {
                f"gain_amp{n}": amp.gain, f"gain_error_amp{n}": amp.gain_error,
                f"header_gain_amp{n}": amp.header_gain, f"read_noise_amp{n}": amp.read_noise,
                f"read_noise_error_amp{n}": amp.read_noise_error,
                f"header_read_noise_amp{n}": amp.header_read_noise,
            }  # fmt: skip
        return figures

    def step(self, settings: PhotonTransferSettings = PHOTON_TRANSFER_DEFAULTS) -> ProcessingStep:
        """The history entry of this measurement (recorded in the masters made from the night's frames).

        Parameters
        ----------
        settings : PhotonTransferSettings
            The settings it was measured with.

        Returns
        -------
        ProcessingStep
            The settings, the frames used (``biases``, ``flats``) and `figures`.
        """
        diagnostics: dict[str, ParamValue] = {"biases": self.biases, "flats": self.flats}
        return settings.step(diagnostics | dict(self.figures()))

    def to_json(self, *, used: bool = False) -> list[dict[str, object]]:
        """One record per amplifier, as summary.json lists them.

        Parameters
        ----------
        used : bool
            Whether the night's frames were calibrated with the measured values.

        Returns
        -------
        list of dict
            Camera, binning, mode, filter, amplifier, the measured gain and read noise with their
            errors, the header's, the relative differences ``(header - measured) / measured``,
            pixels, flat signal (ADU), the frames, ``warning`` (bool), ``warnings`` (lines) and
            ``used``.
        """
        records = []
        for amp in self.amplifiers:
            lines = self.warnings_of(amp)
            records.append(
                {
                    "camera": self.camera, "binning": self.binning,
                    "configuration_mode": self.configuration_mode, "filter": self.filter,
                    "amplifier": amp.amplifier, "gain": amp.gain, "gain_error": amp.gain_error,
                    "header_gain": amp.header_gain, "gain_difference": amp.gain_difference,
                    "read_noise": amp.read_noise, "read_noise_error": amp.read_noise_error,
                    "header_read_noise": amp.header_read_noise,
                    "read_noise_difference": amp.read_noise_difference, "pixels": amp.pixels,
                    "flat_signal_adu": amp.signal, "biases": list(self.biases), "flats": list(self.flats),
                    "max_difference": self.max_difference, "warning": bool(lines),
                    "warnings": list(lines), "used": used,
                }
            )  # fmt: skip
        return records


def central_region(geometry: AmplifierGeometry, edge: float) -> tuple[slice, slice]:
    """The central part of an amplifier's data section, readout coordinates (numpy slices, y first).

    Parameters
    ----------
    geometry : AmplifierGeometry
        The amplifier.
    edge : float
        Fraction of the data section's side left out on each side (0 to 0.4).

    Returns
    -------
    (slice, slice)
    """
    rows, columns = geometry.data_section.to_slices()
    cut_y = int(edge * (rows.stop - rows.start))
    cut_x = int(edge * (columns.stop - columns.start))
    return slice(rows.start + cut_y, rows.stop - cut_y), slice(columns.start + cut_x, columns.stop - cut_x)


def _prepare(frame: Frame, camera: Camera, overscan: OverscanSettings) -> Frame:
    """The amplifier stages up to the overscan: saturation flags, then the overscan level removed."""
    require_amplifiers(frame, camera, STAGE)
    prepared: Frame = pipeline(flag_saturated(camera), subtract_overscan(camera, overscan))(frame)
    return prepared


def amplifier_levels(
    frame: Frame, camera: Camera, settings: PhotonTransferSettings = PHOTON_TRANSFER_DEFAULTS
) -> tuple[float, ...]:
    """Each amplifier's raw level: the 3.5-sigma clipped mean of its central region, ADU (with any offset).

    Used to choose the flats of a pair (`choose_flat_pair`) and to check flats against MAXLIN.

    Parameters
    ----------
    frame : Frame
        A raw frame (amplifier readouts, ADU).
    camera : Camera
        Its camera.
    settings : PhotonTransferSettings
        ``edge``: the central region.

    Returns
    -------
    tuple of float
        ADU, one per amplifier.

    Raises
    ------
    StageError
        The frame is assembled or does not match ``camera``.
    """
    require_amplifiers(frame, camera, STAGE)
    levels = []
    for amp, geometry in zip(frame.amplifiers, camera.amplifiers, strict=True):
        region = central_region(geometry, settings.edge)
        levels.append(sigma_clipped_mean(amp.data[region], FRAME_LEVEL_NSIGMA, mask=amp.mask[region] != 0))
    return tuple(levels)


@attrs.frozen
class FlatCandidate:
    """A sky flat that could be one of a pair.

    Attributes
    ----------
    name : str
        Its file name.
    filter : str
        FILTER (a pair is of one filter).
    levels : tuple of float
        `amplifier_levels`, raw ADU.
    """

    name: str
    filter: str
    levels: tuple[float, ...]


def choose_flat_pair(
    candidates: Sequence[FlatCandidate],
    bias_levels: Sequence[float],
    camera: Camera,
    settings: PhotonTransferSettings = PHOTON_TRANSFER_DEFAULTS,
) -> tuple[int, int]:
    """The two flats of one filter closest in level, among those neither too faint nor too bright.

    A flat is usable when every amplifier's raw level is at most ``max_flat_level`` x MAXLIN and
    its level above bias at least ``min_flat_level`` x MAXLIN. The pair's level difference is the
    largest over the amplifiers of ``|s1 - s2| / ((s1 + s2) / 2)`` (``s``: level above bias); the
    pair with the smallest is chosen (the brighter pair on a tie), if it is at most
    ``max_level_difference``.

    Parameters
    ----------
    candidates : sequence of FlatCandidate
        The flats.
    bias_levels : sequence of float
        Each amplifier's raw bias level (`amplifier_levels` of a bias), ADU.
    camera : Camera
        The amplifiers' MAXLIN.
    settings : PhotonTransferSettings
        The limits.

    Returns
    -------
    (int, int)
        Indexes into ``candidates``, in their order.

    Raises
    ------
    PhotonTransferError
        No usable pair, with why.
    """
    maxlin = [g.nonlinearity for g in camera.amplifiers]
    usable: list[int] = []
    problems: list[str] = []
    for index, flat in enumerate(candidates):
        signal = [level - bias for level, bias in zip(flat.levels, bias_levels, strict=True)]
        if any(
            level > settings.max_flat_level * limit for level, limit in zip(flat.levels, maxlin, strict=True)
        ):
            problems.append(f"{flat.name} above {settings.max_flat_level:.0%} of MAXLIN")
        elif any(not s >= settings.min_flat_level * limit for s, limit in zip(signal, maxlin, strict=True)):
            problems.append(f"{flat.name} below {settings.min_flat_level:.0%} of MAXLIN above bias")
        else:
            usable.append(index)
    best: tuple[float, float, int, int] | None = None
    for i, first in enumerate(usable):
        for second in usable[i + 1 :]:
            a, b = candidates[first], candidates[second]
            if a.filter != b.filter:
                continue
            s1 = [level - bias for level, bias in zip(a.levels, bias_levels, strict=True)]
            s2 = [level - bias for level, bias in zip(b.levels, bias_levels, strict=True)]
            difference = max(abs(x - y) / ((x + y) / 2) for x, y in zip(s1, s2, strict=True))
            key = (difference, -sum(s1) - sum(s2), first, second)
            if best is None or key < best:
                best = key
    if best is None:
        why = "; ".join(problems) if problems else "no two of one filter"
        raise PhotonTransferError(f"{camera.name}: no pair of sky flats to measure the gain ({why})")
    difference, _, first, second = best
    if difference > settings.max_level_difference:
        raise PhotonTransferError(
            f"{camera.name}: the closest sky flats in level, {candidates[first].name} and "
            f"{candidates[second].name}, differ by {difference:.1%} "
            f"(limit {settings.max_level_difference:.0%})"
        )
    return first, second


def _pixels(amp: AmplifierData, region: tuple[slice, slice]) -> npt.NDArray[np.float64]:
    data = np.asarray(amp.data[region], dtype=np.float64)
    return np.where((amp.mask[region] == 0) & np.isfinite(data), data, np.nan)


def _measure_amplifier(
    biases: tuple[AmplifierData, AmplifierData],
    flats: tuple[AmplifierData, AmplifierData],
    geometry: AmplifierGeometry,
    names: str,
    settings: PhotonTransferSettings,
) -> AmplifierTransfer:
    region = central_region(geometry, settings.edge)
    b1, b2, f1, f2 = (_pixels(amp, region) for amp in (*biases, *flats))
    good = np.isfinite(b1) & np.isfinite(b2) & np.isfinite(f1) & np.isfinite(f2)
    if good.sum() < 100:
        raise PhotonTransferError(f"{names}: amplifier {geometry.index} has {int(good.sum())} usable pixels")
    bias = (
        sigma_clipped_mean(b1[good], FRAME_LEVEL_NSIGMA) + sigma_clipped_mean(b2[good], FRAME_LEVEL_NSIGMA)
    ) / 2
    s1 = sigma_clipped_mean(f1[good], FRAME_LEVEL_NSIGMA) - bias
    s2 = sigma_clipped_mean(f2[good], FRAME_LEVEL_NSIGMA) - bias
    if not (s1 > 0 and s2 > 0):
        raise PhotonTransferError(f"{names}: amplifier {geometry.index}: the flats are not above the bias")
    # The signal is then the flats' mean over the pixels their difference keeps: light the
    # clipping takes out of the variance (a star that moved between dithered flats) must not
    # stay in the level the variance is compared with.
    kept = _clip(f1[good] - (s1 / s2) * f2[good], settings.nsigma, 5)
    s1 = float(f1[good][kept].mean()) - bias
    s2 = float(f2[good][kept].mean()) - bias
    ratio = s1 / s2
    flat_variance, n_flat = clipped_variance(f1[good] - ratio * f2[good], settings.nsigma)
    bias_variance, n_bias = clipped_variance(b1[good] - b2[good], settings.nsigma)
    read_weight = (1.0 + ratio**2) / 2.0
    poisson = flat_variance - read_weight * bias_variance
    if not poisson > 0:
        raise PhotonTransferError(
            f"{names}: amplifier {geometry.index}: the flats' difference is no noisier than the biases'"
        )
    gain = (1.0 + ratio) * s1 / poisson
    # Standard errors of normal variances, sqrt(2 / (n - 1)) each, through the gain's denominator.
    spread = math.hypot(
        flat_variance * math.sqrt(2.0 / (n_flat - 1)),
        read_weight * bias_variance * math.sqrt(2.0 / (n_bias - 1)),
    )
    gain_error = gain * spread / poisson
    read_noise = gain * math.sqrt(bias_variance / 2.0)
    read_noise_error = read_noise * math.hypot(gain_error / gain, math.sqrt(1.0 / (2.0 * (n_bias - 1))))
    return AmplifierTransfer(
        amplifier=geometry.index, gain=gain, gain_error=gain_error, read_noise=read_noise,
        read_noise_error=read_noise_error, header_gain=geometry.gain, header_read_noise=geometry.read_noise,
        pixels=n_flat, signal=(s1 + s2) / 2.0,
    )  # fmt: skip


def measure_photon_transfer(
    biases: tuple[Frame, Frame],
    flats: tuple[Frame, Frame],
    camera: Camera,
    settings: PhotonTransferSettings = PHOTON_TRANSFER_DEFAULTS,
    *,
    overscan: OverscanSettings = OVERSCAN_DEFAULTS,
) -> PhotonTransfer:
    """Each amplifier's gain and read noise from two raw biases and two raw sky flats (Janesick's pairs).

    Each frame goes through `~lco_stages.saturation.flag_saturated` and
    `~lco_stages.overscan.subtract_overscan` first (the pipeline's own amplifier stages); then,
    per amplifier, over its central region without masked pixels, the formulas of this module's
    introduction. Errors are statistical (1 sigma): ``sqrt(2 / (n - 1))`` relative on each
    clipped variance of ``n`` pixels, carried through the gain's denominator; the read noise's
    adds ``1 / sqrt(2 (n - 1))`` of its own. At 100 000 pixels per amplifier the gain's
    relative error is about 0.5%.

    Parameters
    ----------
    biases, flats : (Frame, Frame)
        Raw frames of one camera set-up (amplifier readouts, ADU), e.g. from
        `lco_instruments.describe.raw_to_frame`.
    camera : Camera
        Their camera: geometry, the header's gain and read noise, SATURATE and MAXLIN.
    settings : PhotonTransferSettings
        The central region, the clipping, the flats' level limits and ``max_difference``.
    overscan : OverscanSettings
        How the overscan is subtracted (the run's ``overscan.*`` settings).

    Returns
    -------
    PhotonTransfer

    Raises
    ------
    PhotonTransferError
        Flats brighter than ``max_flat_level`` x MAXLIN or not above the bias, too few pixels,
        or flats no noisier than biases.
    StageError
        A frame does not match ``camera``.
    """
    names = ", ".join(f.meta.filename for f in (*biases, *flats))
    for flat in flats:
        levels = amplifier_levels(flat, camera, settings)
        for level, geometry in zip(levels, camera.amplifiers, strict=True):
            if level > settings.max_flat_level * geometry.nonlinearity:
                raise PhotonTransferError(
                    f"{flat.meta.filename}: amplifier {geometry.index} at {level:.0f} ADU is above "
                    f"{settings.max_flat_level:.0%} of MAXLIN ({geometry.nonlinearity:.0f} ADU): "
                    "too bright for a gain"
                )
    b1, b2, f1, f2 = (_prepare(frame, camera, overscan) for frame in (*biases, *flats))
    amplifiers = tuple(
        _measure_amplifier((a1, a2), (c1, c2), geometry, names, settings)
        for a1, a2, c1, c2, geometry in zip(
            b1.amplifiers, b2.amplifiers, f1.amplifiers, f2.amplifiers, camera.amplifiers, strict=True
        )
    )
    meta = flats[0].meta
    return PhotonTransfer(
        camera=camera.name,
        binning=str(camera.binning),
        configuration_mode=camera.configuration_mode,
        filter=meta.filter or "",
        biases=(biases[0].meta.filename, biases[1].meta.filename),
        flats=(flats[0].meta.filename, flats[1].meta.filename),
        amplifiers=amplifiers,
        max_difference=settings.max_difference,
    )


@attrs.frozen
class MeasuredElectronics:
    """Gains and read noises to calibrate with instead of the header's (``photon_transfer.use_measured``).

    Attributes
    ----------
    gains : tuple of float
        Electrons per ADU, one per amplifier in readout order.
    read_noises : tuple of float
        Electrons, same order.
    source : str
        Where they come from (the frames of the photon-transfer pairs), for the provenance.
    """

    gains: tuple[float, ...]
    read_noises: tuple[float, ...]
    source: str

    @classmethod
    def of(cls, transfer: PhotonTransfer) -> MeasuredElectronics:
        """The measured values of a photon-transfer measurement.

        Parameters
        ----------
        transfer : PhotonTransfer
            The measurement.

        Returns
        -------
        MeasuredElectronics
        """
        return cls(
            tuple(a.gain for a in transfer.amplifiers),
            tuple(a.read_noise for a in transfer.amplifiers),
            f"photon transfer of {', '.join((*transfer.biases, *transfer.flats))}",
        )


def with_measured(camera: Camera, measured: MeasuredElectronics | None) -> Camera:
    """The camera with its amplifiers' gain and read noise replaced by measured ones (None: unchanged).

    Parameters
    ----------
    camera : Camera
        The camera as its headers describe it.
    measured : MeasuredElectronics or None
        The values to use.

    Returns
    -------
    Camera
        With one provenance line per amplifier naming the header's value, the measured one and
        where it was measured.

    Raises
    ------
    PhotonTransferError
        ``measured`` has another number of amplifiers than ``camera``.
    """
    if measured is None:
        return camera
    n = len(camera.amplifiers)
    if len(measured.gains) != n or len(measured.read_noises) != n:
        raise PhotonTransferError(
            f"{camera.name}: {len(measured.gains)} measured gains for {n} amplifiers ({measured.source})"
        )
    amplifiers = tuple(
        attrs.evolve(amp, gain=gain, read_noise=noise)
        for amp, gain, noise in zip(camera.amplifiers, measured.gains, measured.read_noises, strict=True)
    )
    lines = tuple(
        f"gain amp{amp.index} {gain:.4f} e-/ADU, read noise {noise:.3f} e- (header {amp.gain:.4f}, "
        f"{amp.read_noise:.3f}): measured, {measured.source}"
        for amp, gain, noise in zip(camera.amplifiers, measured.gains, measured.read_noises, strict=True)
    )
    return attrs.evolve(camera, amplifiers=amplifiers, provenance=(*camera.provenance, *lines))
