"""subtract_overscan: remove each amplifier's electronic offset measured in its serial overscan."""

from __future__ import annotations

from typing import ClassVar, Literal

import attrs
import numpy as np
import numpy.typing as npt

from lco_core.frame import AmplifierData, Frame
from lco_core.parameters import StageSettings, documented, parameter
from lco_core.pipeline import Stage
from lco_core.stats import sigma_clipped_mean
from lco_instruments.geometry import AmplifierGeometry, Camera
from lco_stages._checks import map_amplifiers, require_amplifiers

STAGE = "subtract_overscan"
Method = Literal["mean", "rows"]


@documented
@attrs.frozen
class OverscanSettings(StageSettings):
    """subtract_overscan: each amplifier's electronic offset, measured in its serial overscan."""

    section: ClassVar[str] = "overscan"
    stage: ClassVar[str] = STAGE

    method: str = parameter(
        "mean", "one clipped mean per amplifier, or a robust polynomial per row", choices=("mean", "rows")
    )
    nsigma: float = parameter(3.0, "rejection threshold of the clipped means", unit="sigma", above=0.0)
    degree: int = parameter(3, "polynomial degree in the row number (method rows)", minimum=0, maximum=9)


#: Every overscan setting at its default.
OVERSCAN_DEFAULTS = OverscanSettings()


def overscan_level(pixels: npt.NDArray[np.float32], *, nsigma: float = 3.0) -> float:
    """The sigma-clipped mean (ADU) of an overscan region (robust std = 1.4826 x MAD).

    Parameters
    ----------
    pixels : ndarray of float32
        The BIASSEC pixels, ADU.
    nsigma : float
        Rejection threshold, robust standard deviations.

    Returns
    -------
    float
        ADU (NaN if nothing is left).
    """
    return sigma_clipped_mean(pixels, nsigma)


def overscan_rows(
    pixels: npt.NDArray[np.float32], *, n_rows: int, row_offset: int, nsigma: float = 3.0, degree: int = 3
) -> npt.NDArray[np.float64]:
    """A per-row overscan level (ADU) for ``n_rows`` readout rows.

    Each overscan row is reduced to its sigma-clipped mean, then a polynomial of ``degree`` in
    the row number is fitted to those means with iterative ``nsigma`` rejection, so a cosmic ray
    or a noisy row cannot pull the correction; the fit is evaluated for every readout row.

    Parameters
    ----------
    pixels : ndarray of float32
        The BIASSEC pixels, ADU, one row per readout row.
    n_rows : int
        Rows of the whole readout.
    row_offset : int
        The 0-based readout row of the overscan region's first row.
    nsigma : float
        Rejection threshold, robust standard deviations.
    degree : int
        Degree of the polynomial in the row number.

    Returns
    -------
    ndarray of float64, shape (n_rows,)
        Overscan level of every readout row, ADU.
    """
    per_row: npt.NDArray[np.float64] = np.asarray(
        sigma_clipped_mean(pixels, nsigma, axis=1), dtype=np.float64
    )
    rows = np.arange(pixels.shape[0], dtype=np.float64) + row_offset
    scale = max(1.0, float(n_rows - 1))
    good = np.isfinite(per_row)
    for _ in range(5):
        coefficients = np.polynomial.polynomial.polyfit(rows[good] / scale, per_row[good], degree)
        residual = per_row - np.polynomial.polynomial.polyval(rows / scale, coefficients)
        spread = 1.4826 * np.median(np.abs(residual[good] - np.median(residual[good])))
        keep = good & (np.abs(residual) <= nsigma * max(spread, 1e-6))
        if np.array_equal(keep, good):
            break
        good = keep
    levels = np.polynomial.polynomial.polyval(np.arange(n_rows, dtype=np.float64) / scale, coefficients)
    return np.asarray(levels, dtype=np.float64)


def subtract_overscan(camera: Camera, settings: OverscanSettings = OVERSCAN_DEFAULTS) -> Stage:
    """Subtract each amplifier's overscan level (ADU) from its whole readout.

    ``method="mean"`` (default, as LCO's pipeline): one ``nsigma``-clipped mean per amplifier.
    ``method="rows"``: a robust polynomial in the row number (see `overscan_rows`) for readouts
    whose offset drifts along the columns. Amplifiers without overscan (BIASSEC 'UNKNOWN') are
    skipped, and the skip is recorded: their offset is removed by the master bias.

    Parameters
    ----------
    camera : Camera
        Each amplifier's ``bias_section`` (None: no overscan).
    settings : OverscanSettings
        ``method`` ('mean': one level per amplifier, 'rows': a level per row), ``nsigma``
        (rejection threshold, robust standard deviations) and ``degree`` (polynomial degree of
        'rows'); the ``overscan.*`` settings.

    Returns
    -------
    Stage
        Records the settings and ``overscan_ampN`` (ADU, or ``'none'``), written to products as
        OVERSCNn.

    Raises
    ------
    StageError
        When run on an assembled frame, or on readouts that do not match ``camera``.
    """
    method, nsigma, degree = settings.method, settings.nsigma, settings.degree

    def stage(frame: Frame) -> Frame:
        require_amplifiers(frame, camera, STAGE)
        diagnostics: dict[str, float | str] = {}

        def subtract(amp: AmplifierData, geometry: AmplifierGeometry) -> AmplifierData:
            if geometry.bias_section is None:
                diagnostics[f"overscan_amp{amp.index}"] = "none"
                return amp
            region = amp.data[geometry.bias_section.to_slices()]
            if method == "mean":
                level = overscan_level(region, nsigma=nsigma)
                diagnostics[f"overscan_amp{amp.index}"] = level
                return amp.evolve(data=amp.data - np.float32(level))
            levels = overscan_rows(
                region,
                n_rows=amp.data.shape[0],
                row_offset=geometry.bias_section.y_min - 1,
                nsigma=nsigma,
                degree=degree,
            )
            diagnostics[f"overscan_amp{amp.index}"] = float(levels.mean())
            diagnostics[f"overscan_slope_amp{amp.index}"] = float(levels[-1] - levels[0])
            return amp.evolve(data=amp.data - levels[:, np.newaxis].astype(np.float32))

        amplifiers = map_amplifiers(frame, camera, subtract)
        return frame.with_step(settings.step(diagnostics), amplifiers=amplifiers)

    return stage
