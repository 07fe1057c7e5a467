"""Simulated cameras: real LCO readout layouts (optionally scaled down for fast tests)."""

from __future__ import annotations

import attrs

from lco_core.section import Binning, Section
from lco_instruments.families import CameraFamily
from lco_instruments.geometry import AmplifierGeometry, Camera, CrosstalkMatrix


@attrs.frozen
class SimCamera:
    """A camera to simulate: the geometry its files will describe, and its site facts.

    ``camera`` is exactly what `lco_instruments.describe.camera_for` must recover from the
    written headers.

    Attributes
    ----------
    camera : Camera
        The geometry, gains, read noise, saturation and crosstalk to simulate.
    pixel_scale : float
        Arcsec per binned pixel (PIXSCALE).
    detector_size : Section
        DETSIZE.
    overscan_levels : tuple of float
        Electronic offset of each amplifier, ADU.
    site, telescope, enclosure : str
        SITEID, TELESCOP and ENCID.
    pedestal : float
        Offset of a camera without overscan, ADU (removed by the master bias).
    set_temperature : float
        CCDSTEMP, degrees Celsius.
    multi_extension : bool
        Write one extension per amplifier (current Sinistros).
    dark_temperature_coefficient : float
        1/K; written as DRKTCOEF when non-zero.
    """

    camera: Camera
    pixel_scale: float  # arcsec per binned pixel
    detector_size: Section
    overscan_levels: tuple[float, ...]
    site: str = "cpt"
    telescope: str = "1m0-10"
    enclosure: str = "doma"
    pedestal: float = 0.0
    set_temperature: float = -100.0
    multi_extension: bool = False
    dark_temperature_coefficient: float = 0.0  # 1/K; written as DRKTCOEF when non-zero


def _crosstalk(pairs: dict[tuple[int, int], float], n: int) -> CrosstalkMatrix:
    return tuple(tuple(pairs.get((i + 1, j + 1), 0.0) for j in range(n)) for i in range(n))


#: Sinistro-like crosstalk: strong between amplifiers sharing a readout board (1-2, 3-4), as on
#: the real fa05 (CRSTLK12 = 0.00053 ...), weak everywhere else.
SINISTRO_CROSSTALK = {
    (1, 2): 5.3e-4, (2, 1): 6.4e-4, (3, 4): 5.7e-4, (4, 3): 6.1e-4,
    (1, 3): 2e-5, (1, 4): 1e-5, (2, 3): 1e-5, (2, 4): 2e-5,
    (3, 1): 1e-5, (3, 2): 2e-5, (4, 1): 2e-5, (4, 2): 1e-5,
}  # fmt: skip


def sinistro(
    *,
    amp_size: int = 2048,
    mode: str = "full_frame",
    name: str = "fa99",
    site: str = "cpt",
    telescope: str = "1m0-10",
    gains: tuple[float, float, float, float] = (2.02, 1.98, 2.05, 1.96),
    read_noise: float = 7.5,
    crosstalk: dict[tuple[int, int], float] | None = None,
) -> SimCamera:
    """A current (multi-extension) Sinistro: four amplifiers read from the detector's corners.

    ``amp_size`` is an amplifier's side in unbinned pixels (2048 on the real 4k x 4k detector).
    ``mode`` 'full_frame' (1x1) or 'central_2k_2x2' (the central half of the detector, 2x2).
    The layout is the real one: amplifier 1 top-left (read out flipped in y), 2 bottom-left,
    3 bottom-right (flipped in x), 4 top-right (flipped in both); each readout has 10
    parallel-overscan rows (5 binned) and 32 serial-overscan columns (16 binned) whose first
    few still carry charge trailing from the image and are left out of BIASSEC.

    Parameters
    ----------
    amp_size : int
        Side of an amplifier, unbinned pixels (small values make fast tests and figures).
    mode : str
        'full_frame' (1x1) or 'central_2k_2x2'.
    name : str
        INSTRUME.
    site, telescope : str
        SITEID and TELESCOP.
    gains : (float, float, float, float)
        Gain of each amplifier, electrons per ADU.
    read_noise : float
        Electrons.
    crosstalk : dict of (int, int) to float, optional
        ``{(i, j): CRSTLKij}``: fraction of amplifier i's signal appearing in amplifier j;
        by default `SINISTRO_CROSSTALK`.

    Returns
    -------
    SimCamera
        Overscan levels near 2500 ADU, saturation 47500 ADU, MAXLIN 45000 ADU, 0.389 arcsec
        per unbinned pixel.
    """
    binning = Binning(2, 2) if mode == "central_2k_2x2" else Binning(1, 1)
    side = amp_size // binning.x
    detector = 2 * amp_size if mode == "full_frame" else 4 * amp_size
    origin = 1 if mode == "full_frame" else amp_size + 1
    serial, skipped, parallel = 32 // binning.x, 6 // binning.x, 10 // binning.y
    a = amp_size
    placements = {
        1: Section(origin, origin + a - 1, origin + 2 * a - 1, origin + a),
        2: Section(origin, origin + a - 1, origin, origin + a - 1),
        3: Section(origin + 2 * a - 1, origin + a, origin, origin + a - 1),
        4: Section(origin + 2 * a - 1, origin + a, origin + 2 * a - 1, origin + a),
    }
    amplifiers = tuple(
        AmplifierGeometry(
            index=index,
            readout_shape=(side + parallel, side + serial),
            data_section=Section(1, side, 1, side),
            bias_section=Section(side + skipped + 1, side + serial, 1, side),
            detector_section=placements[index],
            gain=gains[index - 1],
            read_noise=read_noise,
            saturation=47500.0,
            nonlinearity=45000.0,
        )
        for index in range(1, 5)
    )
    mosaic = 2 * side
    camera = Camera(
        name=name,
        family=CameraFamily.SINISTRO,
        binning=binning,
        configuration_mode=mode,
        amplifiers=amplifiers,
        crosstalk=_crosstalk(SINISTRO_CROSSTALK if crosstalk is None else crosstalk, 4),
        trim_section=Section(1, mosaic, 1, mosaic),
    )
    return SimCamera(
        camera=camera,
        pixel_scale=0.389 * binning.x,
        detector_size=Section(1, detector, 1, detector),
        overscan_levels=(2522.0, 2560.0, 2553.0, 2582.0),
        site=site,
        telescope=telescope,
        set_temperature=-100.0,
        multi_extension=True,
    )


def _margin(side: int) -> int:
    # Real SBIG/Spectral TRIMSECs drop 10 binned pixels at each edge of a 2k readout.
    return max(1, round(10 * side / 2048))


def _single_amplifier(
    name: str,
    family: CameraFamily,
    *,
    size: int,
    binning: int,
    serial: int,
    gain: float,
    read_noise: float,
    saturation: float,
    nonlinearity: float,
    dark_temperature_coefficient: float | None = None,
) -> Camera:
    """A one-amplifier camera: ``serial`` overscan columns (the first 6 unused), trimmed edges."""
    side = size // binning
    margin = _margin(side)
    skipped = 6
    amplifier = AmplifierGeometry(
        index=1,
        readout_shape=(side, side + serial),
        data_section=Section(1, side, 1, side),
        bias_section=Section(side + skipped + 1, side + serial, 1, side) if serial else None,
        detector_section=Section(1, size, 1, size),
        gain=gain,
        read_noise=read_noise,
        saturation=saturation,
        nonlinearity=nonlinearity,
    )
    return Camera(
        name=name,
        family=family,
        binning=Binning(binning, binning),
        configuration_mode="full_frame",
        amplifiers=(amplifier,),
        crosstalk=((0.0,),),
        trim_section=Section(margin + 1, side - margin, margin + 1, side - margin),
        dark_temperature_coefficient=dark_temperature_coefficient,
    )


def sbig(
    *, size: int = 4096, binning: int = 2, name: str = "kb99", site: str = "lsc", telescope: str = "1m0-05"
) -> SimCamera:
    """A 1 m SBIG STX-16803: one amplifier, no overscan (its offset comes from the master bias).

    Parameters
    ----------
    size : int
        Detector side, unbinned pixels.
    binning : int
        Binning on both axes.
    name : str
        INSTRUME.
    site, telescope : str
        SITEID and TELESCOP.

    Returns
    -------
    SimCamera
        Gain 1.4 e-/ADU, read noise 13.5 e-, a 520 ADU pedestal, set temperature -20 C and
        DRKTCOEF 0.09 /K.
    """
    camera = _single_amplifier(
        name, CameraFamily.SBIG, size=size, binning=binning, serial=0, gain=1.4, read_noise=13.5,
        saturation=46000.0, nonlinearity=46000.0, dark_temperature_coefficient=0.09,
    )  # fmt: skip
    return SimCamera(
        camera=camera,
        pixel_scale=0.2335 * binning,
        detector_size=Section(1, size, 1, size),
        overscan_levels=(0.0,),
        site=site,
        telescope=telescope,
        pedestal=520.0,
        set_temperature=-20.0,
        dark_temperature_coefficient=0.09,
    )


def spectral(
    *, size: int = 4096, binning: int = 2, name: str = "fs99", site: str = "ogg", telescope: str = "2m0-01"
) -> SimCamera:
    """A 2 m Spectral camera: one amplifier with 32 serial-overscan columns.

    Parameters
    ----------
    size : int
        Detector side, unbinned pixels.
    binning : int
        Binning on both axes.
    name : str
        INSTRUME.
    site, telescope : str
        SITEID and TELESCOP.

    Returns
    -------
    SimCamera
        Gain 7.7 e-/ADU, read noise 9 e-, overscan level 610 ADU.
    """
    camera = _single_amplifier(
        name, CameraFamily.SPECTRAL, size=size, binning=binning, serial=32, gain=7.7, read_noise=9.0,
        saturation=65000.0, nonlinearity=60000.0,
    )  # fmt: skip
    return SimCamera(
        camera=camera,
        pixel_scale=0.15 * binning,
        detector_size=Section(1, size, 1, size),
        overscan_levels=(610.0,),
        site=site,
        telescope=telescope,
        set_temperature=-100.0,
    )
