"""quality_pattern_noise: periodic readout noise, found as a peak in the rows' mean power spectrum.

Pick-up in a CCD's readout electronics adds a sinusoid along the serial (row) direction whose
phase drifts from row to row. Its power stands out in every row's spectrum at the same frequency
whatever the phase, so the spectra are averaged over rows (phase-insensitive) and a narrow peak
is sought above the smooth continuum. The idea follows BANZAI's PatternNoiseDetector
(``banzai/qc/pattern_noise.py``: the rows' Fourier spectra, the lowest 2.5% of frequencies left
out, the power compared with a running-median continuum and its robust scatter, SNR 10); this
code is our own: on the whole frame and on each quadrant (a Sinistro's four amplifiers), with a
Hann window, bright pixels (stars, cosmic rays,
hot pixels) clipped and their neighbours along the row replaced, one narrow peak needed, and the
peak's amplitude estimated so that a negligible pattern is not reported.
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lco_core.frame import Frame
from lco_core.pipeline import Stage
from lco_core.stats import robust_std
from lco_stages._checks import require_assembled
from lco_stages.quality.results import PATTERN_NOISE_STAGE, STAGE_PREFIX, QualityResult, decide, quality_step
from lco_stages.quality.settings import QUALITY_DEFAULTS, QualitySettings

STAGE = PATTERN_NOISE_STAGE
TEST = STAGE.removeprefix(STAGE_PREFIX)

#: Frequencies below this fraction of a region's width (cycles per pixel x width) are left out,
#: as BANZAI leaves out the inner 2.5%: the rows' slow structure (gradients, star wings) lives there.
LOWEST_FRACTION = 0.025
#: Half-width of the running median that estimates the spectrum's continuum, frequency bins.
CONTINUUM_HALF_WIDTH = 7
#: Pixels beyond this many robust sigma of the row-subtracted region are clipped (stars...).
CLIP_NSIGMA = 5.0
#: Clipped pixels take this many neighbours on each side along the row with them (star wings).
CLIP_GROW = 3
#: Bins on each side of the peak whose excess power counts towards the amplitude.
PEAK_HALF_WIDTH = 2


@attrs.frozen
class SpectralPeak:
    """The strongest narrow peak of a region's mean row spectrum.

    Attributes
    ----------
    snr : float
        Height above the continuum, robust sigma of the spectrum's scatter about it.
    frequency : float
        Cycles per pixel along the rows.
    amplitude : float
        Amplitude of the sinusoid it implies, in the units of the pixels (electrons).
    noise : float
        Robust standard deviation of the region's pixels after clipping, same units.
    """

    snr: float
    frequency: float
    amplitude: float
    noise: float


def _sampled_robust_std(values: npt.NDArray[np.float64]) -> float:
    """Robust standard deviation of at most about a million of the values (evenly sampled)."""
    if values.size == 0:
        return 0.0
    step = max(1, values.size // 1_000_000)
    return float(robust_std(values[::step]))


def _clean_rows(data: npt.NDArray[np.floating], bad: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Rows minus their medians, bright or masked pixels (and their row neighbours) set to zero."""
    values = np.where(bad, np.nan, data.astype(np.float64))
    with np.errstate(all="ignore"):
        rows = np.nanmedian(values, axis=1, keepdims=True)
    rows = np.where(np.isfinite(rows), rows, 0.0)
    values = values - rows
    finite = np.isfinite(values)
    sigma = _sampled_robust_std(values[finite])
    clipped = ~finite | (np.abs(np.where(finite, values, 0.0)) > CLIP_NSIGMA * max(sigma, 1e-12))
    grown = ndimage.binary_dilation(clipped, structure=np.ones((1, 2 * CLIP_GROW + 1), dtype=bool))
    cleaned: npt.NDArray[np.float64] = np.where(grown, 0.0, values)
    centred: npt.NDArray[np.float64] = cleaned - cleaned.mean(axis=1, keepdims=True)
    return centred


def spectral_peak(data: npt.NDArray[np.floating], bad: npt.NDArray[np.bool_]) -> SpectralPeak | None:
    """The strongest peak of a region's mean row power spectrum.

    Parameters
    ----------
    data : ndarray
        The region's pixels (electrons), rows along x.
    bad : ndarray of bool
        Pixels to leave out (masked).

    Returns
    -------
    SpectralPeak or None
        None for a region too small to have a spectrum (fewer than 16 columns or 8 rows).
    """
    if data.shape[1] < 16 or data.shape[0] < 8:
        return None
    return _peak(_clean_rows(data, bad))


def _peak(cleaned: npt.NDArray[np.float64]) -> SpectralPeak | None:
    """`spectral_peak` of rows already cleaned by `_clean_rows` (re-centred here)."""
    ny, nx = cleaned.shape
    if nx < 16 or ny < 8:
        return None
    rows = cleaned - cleaned.mean(axis=1, keepdims=True)
    noise = _sampled_robust_std(cleaned[cleaned != 0])
    # A Hann window keeps a sinusoid between two frequency bins within about three of them and
    # the rows' slow structure out of the high frequencies; normalised so white noise of
    # variance s^2 has a mean power s^2 in every bin.
    window = np.hanning(nx)
    power = (np.abs(np.fft.rfft(rows * window, axis=1)) ** 2).mean(axis=0) / np.sum(window**2)
    first = max(2, int(np.ceil(LOWEST_FRACTION * nx)))
    power = power[first:]
    continuum = ndimage.median_filter(power, size=2 * CONTINUUM_HALF_WIDTH + 1, mode="nearest")
    continuum = np.maximum(continuum, 1e-30)
    # The excess summed over three adjacent bins (where the window puts a sinusoid's power),
    # in robust sigma of the same sum over the whole spectrum.
    ratio = np.convolve(power / continuum - 1.0, np.ones(3), mode="same")
    scatter = float(robust_std(ratio))
    if not np.isfinite(scatter) or scatter <= 0:
        return None
    snr = ratio / scatter
    peak = int(np.argmax(snr))
    around = slice(max(peak - PEAK_HALF_WIDTH, 0), peak + PEAK_HALF_WIDTH + 1)
    excess = float(np.clip(power[around] - continuum[around], 0.0, None).sum())
    # A sinusoid of amplitude A over nx pixels puts A^2 nx / 4 into power/nx (summed over its bins).
    amplitude = 2.0 * np.sqrt(excess / nx)
    return SpectralPeak(float(snr[peak]), (peak + first) / nx, float(amplitude), noise)


def _regions(shape: tuple[int, int]) -> list[tuple[slice, slice]]:
    """The whole frame and its four quadrants (a Sinistro's amplifiers)."""
    ny, nx = shape
    my, mx = ny // 2, nx // 2
    whole = (slice(0, ny), slice(0, nx))
    return [
        whole,
        *((ys, xs) for ys in (slice(0, my), slice(my, ny)) for xs in (slice(0, mx), slice(mx, nx))),
    ]


def check_pattern_noise(settings: QualitySettings = QUALITY_DEFAULTS) -> Stage:
    """The pattern-noise test: a periodic signal along the rows of the frame or a quadrant fails.

    A region fails when its mean row spectrum has a peak ``pattern_noise_snr`` robust sigma
    above the continuum whose amplitude is at least ``pattern_noise_amplitude`` times the read
    noise (RDNOISE; the quadrant's own noise when the header gives none). Runs on a trimmed
    frame in electrons: bias, dark and science frames.

    Parameters
    ----------
    settings : QualitySettings
        ``pattern_noise_snr``, ``pattern_noise_amplitude`` and ``pattern_noise_action``.

    Returns
    -------
    Stage
        Records the strongest peak's SNR (value, robust sigma), the SNR limit, the verdict, and
        the peak's ``frequency`` (cycles per pixel) and ``amplitude`` (electrons) and
        ``amplitude_read_noise`` (in read noises).

    Raises
    ------
    StageError
        When run on a frame that is not assembled.
    """

    def stage(frame: Frame) -> Frame:
        require_assembled(frame, STAGE)
        # Each quadrant cleaned on its own (an amplifier's level may differ from its neighbour's),
        # the whole frame made of the cleaned quadrants: every pixel is cleaned once.
        regions = _regions(frame.shape)
        cleaned = np.zeros(frame.shape)
        for ys, xs in regions[1:]:
            if frame.data[ys, xs].size:
                cleaned[ys, xs] = _clean_rows(frame.data[ys, xs], frame.mask[ys, xs] != 0)
        peaks = [p for p in (_peak(cleaned[ys, xs]) for ys, xs in regions) if p is not None]
        limit = settings.pattern_noise_snr
        if not peaks:
            result = QualityResult(
                TEST, decide(False, "warn"), None, "sigma", limit, "frame too small for a spectrum"
            )
            return frame.with_step(quality_step(result, settings.values()))
        read_noise = frame.meta.read_noise

        def scale(peak: SpectralPeak) -> float:
            reference = read_noise if read_noise else peak.noise
            return peak.amplitude / reference if reference > 0 else 0.0

        def counts(peak: SpectralPeak) -> bool:
            return peak.snr >= limit and scale(peak) >= settings.pattern_noise_amplitude

        found = [p for p in peaks if counts(p)]
        peak = max(found or peaks, key=lambda p: p.snr)
        verdict = decide(bool(found), settings.pattern_noise_action)
        reason = (
            f"peak {peak.snr:.1f} sigma at {peak.frequency:.3f} cycles/pixel, amplitude "
            f"{scale(peak):.2f} x read noise ({settings.pattern_noise_action} at {limit:g} sigma and "
            f"{settings.pattern_noise_amplitude:g} x read noise)"
        )
        result = QualityResult(TEST, verdict, peak.snr, "sigma", limit, reason)
        extra = {
            "frequency": peak.frequency,
            "amplitude": peak.amplitude,
            "amplitude_read_noise": scale(peak),
        }
        return frame.with_step(quality_step(result, settings.values(), extra))

    return stage
