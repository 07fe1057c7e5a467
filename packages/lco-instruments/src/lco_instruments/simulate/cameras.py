"""Simulated cameras: real LCO readout layouts (optionally scaled down), mountings and defects.

A `SimCamera` is the simulator's own description of a camera: a `DetectorLayout` (section
strings as LCO's headers write them), per-amplifier electronics, crosstalk, how it is mounted
on the sky and how many bad pixels it has. Its `SimCamera.camera` is the pipeline `Camera`
that `lco_instruments.describe.camera_for` should recover from the files, built from the
layout for convenience in tests; the simulator itself never places a pixel through it.
"""

from __future__ import annotations

import attrs

from lco_core.section import Binning, Section
from lco_instruments.families import CameraFamily
from lco_instruments.geometry import AmplifierGeometry, Camera, CrosstalkMatrix
from lco_instruments.simulate.defects import BadPixelDensity
from lco_instruments.simulate.layout import (
    DetectorLayout,
    fs01_layout,
    parse_section,
    single_amplifier_layout,
    sinistro_layout,
)
from lco_instruments.simulate.mounting import Mounting

#: LCO's nominal orientation (north up, east left, no rotation) and the historical defect
#: densities (isolated hot pixels only): the builders' defaults.
NORTH_UP_EAST_LEFT = Mounting()
FEW_BAD_PIXELS = BadPixelDensity()


@attrs.frozen
class Electronics:
    """One amplifier's electronics.

    Attributes
    ----------
    gain : float
        Electrons per ADU.
    read_noise : float
        Electrons.
    saturation : float
        ADU at which the converter clips (SATURATE).
    nonlinearity : float
        ADU above which the response is non-linear (MAXLIN).
    """

    gain: float
    read_noise: float
    saturation: float
    nonlinearity: float


def _same_count(
    instance: SimCamera, attribute: attrs.Attribute[tuple[float, ...]], value: tuple[float, ...]
) -> None:
    n = len(instance.layout.amplifiers)
    if len(instance.electronics) != n or len(value) != n or len(instance.crosstalk) != n:
        raise ValueError(f"{n} amplifiers need {n} electronics, overscan levels and crosstalk rows")


@attrs.frozen
class SimCamera:
    """A camera to simulate: its readouts, electronics, site facts, mounting and defects.

    Attributes
    ----------
    name : str
        INSTRUME.
    family : CameraFamily
        The camera family.
    configuration_mode : str
        CONFMODE.
    layout : DetectorLayout
        The readouts' section strings; pixels are placed from this alone.
    electronics : tuple of Electronics
        One per amplifier, in layout order.
    crosstalk : tuple of tuple of float
        ``crosstalk[i][j]``: fraction of amplifier i+1's signal (ADU above its offset)
        appearing in amplifier j+1 (CRSTLK{i+1}{j+1}).
    pixel_scale : float
        Arcsec per binned pixel (PIXSCALE).
    overscan_levels : tuple of float
        Electronic offset of each amplifier, ADU.
    site, telescope, enclosure : str
        SITEID, TELESCOP and ENCID.
    pedestal : float
        Offset of a camera without overscan, ADU (removed by the master bias).
    set_temperature : float
        CCDSTEMP, degrees Celsius.
    multi_extension : bool
        Write one extension per amplifier with its DETSEC (current Sinistros); otherwise DETSEC
        is written 'UNKNOWN' as on real SBIG and Spectral frames.
    dark_temperature_coefficient : float
        1/K; written as DRKTCOEF when non-zero.
    mounting : Mounting
        How the mosaic sits on the sky (default north up, east left, no rotation).
    bad_pixels : BadPixelDensity
        Defect densities (default: isolated hot pixels at 5e-4 only).
    """

    name: str
    family: CameraFamily
    configuration_mode: str
    layout: DetectorLayout
    electronics: tuple[Electronics, ...]
    crosstalk: CrosstalkMatrix
    pixel_scale: float  # arcsec per binned pixel
    overscan_levels: tuple[float, ...] = attrs.field(validator=_same_count)
    site: str = "cpt"
    telescope: str = "1m0-10"
    enclosure: str = "doma"
    pedestal: float = 0.0
    set_temperature: float = -100.0
    multi_extension: bool = False
    dark_temperature_coefficient: float = 0.0  # 1/K; written as DRKTCOEF when non-zero
    mounting: Mounting = NORTH_UP_EAST_LEFT
    bad_pixels: BadPixelDensity = FEW_BAD_PIXELS

    @property
    def mosaic_shape(self) -> tuple[int, int]:
        """Shape (ny, nx) of the assembled image, binned pixels (from the layout)."""
        return self.layout.mosaic_shape

    @property
    def camera(self) -> Camera:
        """The pipeline `Camera` the written files describe (what ``camera_for`` must recover).

        Built from the layout's strings with this module's own parser; for tests and figures,
        never for placing pixels.
        """
        bx, by = self.layout.binning
        amplifiers = tuple(
            AmplifierGeometry(
                index=index,
                readout_shape=amp.shape,
                data_section=Section(*parse_section(amp.datasec)),
                bias_section=None if amp.biassec is None else Section(*parse_section(amp.biassec)),
                detector_section=Section(*parse_section(amp.detsec)),
                gain=electronics.gain,
                read_noise=electronics.read_noise,
                saturation=electronics.saturation,
                nonlinearity=electronics.nonlinearity,
            )
            for index, (amp, electronics) in enumerate(
                zip(self.layout.amplifiers, self.electronics, strict=True), start=1
            )
        )
        return Camera(
            name=self.name,
            family=self.family,
            binning=Binning(bx, by),
            configuration_mode=self.configuration_mode,
            amplifiers=amplifiers,
            crosstalk=self.crosstalk,
            trim_section=Section(*parse_section(self.layout.trimsec)),
            dark_temperature_coefficient=self.dark_temperature_coefficient or None,
        )


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
    mounting: Mounting = NORTH_UP_EAST_LEFT,
    bad_pixels: BadPixelDensity = FEW_BAD_PIXELS,
) -> SimCamera:
    """A current (multi-extension) Sinistro: four amplifiers read from the detector's corners.

    The layout (`~lco_instruments.simulate.layout.sinistro_layout`) is the real fa05's:
    amplifier 1 top-left (read out flipped in y), 2 bottom-left, 3 bottom-right (flipped in
    x), 4 top-right (flipped in both); each readout has 10 parallel-overscan rows and 32
    serial-overscan columns, the first few of which still carry charge trailing from the
    image and are left out of BIASSEC. ``sinistro(amp_size=1024, mode='central_2k_2x2')``
    writes the real fa05's sections and 544 x 522 readouts.

    Parameters
    ----------
    amp_size : int
        Side of an amplifier's region, unbinned pixels: 2048 full frame and 1024 central 2k on
        the real 4k x 4k detector (small values make fast tests and figures).
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
    mounting : Mounting
        Orientation on the sky; by default north up, east left (as real Sinistro headers say).
    bad_pixels : BadPixelDensity
        Defect densities, e.g. ``BadPixelDensity.realistic(0.01)``.

    Returns
    -------
    SimCamera
        Overscan levels near 2500 ADU, saturation 47500 ADU, MAXLIN 45000 ADU, 0.389 arcsec
        per unbinned pixel.
    """
    if mode not in ("full_frame", "central_2k_2x2"):
        raise ValueError(f"Sinistro mode must be 'full_frame' or 'central_2k_2x2', got {mode!r}")
    layout = sinistro_layout(amp_size=amp_size, central=mode == "central_2k_2x2")
    return SimCamera(
        name=name,
        family=CameraFamily.SINISTRO,
        configuration_mode=mode,
        layout=layout,
        electronics=tuple(Electronics(gain, read_noise, 47500.0, 45000.0) for gain in gains),
        crosstalk=_crosstalk(SINISTRO_CROSSTALK if crosstalk is None else crosstalk, 4),
        pixel_scale=0.389 * layout.binning[0],
        overscan_levels=(2522.0, 2560.0, 2553.0, 2582.0),
        site=site,
        telescope=telescope,
        set_temperature=-100.0,
        multi_extension=True,
        mounting=mounting,
        bad_pixels=bad_pixels,
    )


def sbig(
    *,
    size: int = 4096,
    binning: int = 2,
    name: str = "kb99",
    site: str = "lsc",
    telescope: str = "1m0-05",
    mounting: Mounting = NORTH_UP_EAST_LEFT,
    bad_pixels: BadPixelDensity = FEW_BAD_PIXELS,
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
    mounting : Mounting
        Orientation on the sky; real SBIGs vary, e.g. ``Mounting(north='down', east='left')``
        for the mirrored kb70/kb05/kb78/kb76 (header CD diag(-s, -s)).
    bad_pixels : BadPixelDensity
        Defect densities.

    Returns
    -------
    SimCamera
        Gain 1.4 e-/ADU, read noise 13.5 e-, a 520 ADU pedestal, set temperature -20 C and
        DRKTCOEF 0.09 /K.
    """
    return SimCamera(
        name=name,
        family=CameraFamily.SBIG,
        configuration_mode="full_frame",
        layout=single_amplifier_layout(size=size, binning=binning, serial=0),
        electronics=(Electronics(1.4, 13.5, 46000.0, 46000.0),),
        crosstalk=((0.0,),),
        pixel_scale=0.2335 * binning,
        overscan_levels=(0.0,),
        site=site,
        telescope=telescope,
        pedestal=520.0,
        set_temperature=-20.0,
        dark_temperature_coefficient=0.09,
        mounting=mounting,
        bad_pixels=bad_pixels,
    )


def spectral(
    *,
    size: int = 4096,
    binning: int = 2,
    name: str = "fs99",
    site: str = "ogg",
    telescope: str = "2m0-01",
    mounting: Mounting = NORTH_UP_EAST_LEFT,
    bad_pixels: BadPixelDensity = FEW_BAD_PIXELS,
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
    mounting : Mounting
        Orientation on the sky.
    bad_pixels : BadPixelDensity
        Defect densities.

    Returns
    -------
    SimCamera
        Gain 7.7 e-/ADU, read noise 9 e-, overscan level 610 ADU.
    """
    return SimCamera(
        name=name,
        family=CameraFamily.SPECTRAL,
        configuration_mode="full_frame",
        layout=single_amplifier_layout(size=size, binning=binning, serial=32),
        electronics=(Electronics(7.7, 9.0, 65000.0, 60000.0),),
        crosstalk=((0.0,),),
        pixel_scale=0.15 * binning,
        overscan_levels=(610.0,),
        site=site,
        telescope=telescope,
        set_temperature=-100.0,
        mounting=mounting,
        bad_pixels=bad_pixels,
    )


def spectral_fs01(
    *,
    mounting: Mounting = NORTH_UP_EAST_LEFT,
    bad_pixels: BadPixelDensity = FEW_BAD_PIXELS,
) -> SimCamera:
    """The Spectral fs01 (coj 2m0-02) with its real readout layout and its headers' wrong sections.

    Its 2x2 readouts (`~lco_instruments.simulate.layout.fs01_layout`) hold light at
    ``[10:2056,16:2032]``, but the headers write DATASEC ``[1:2048,1:2048]`` and TRIMSEC
    ``[11:2055,19:2031]``, as the real camera's do: the pipeline must recognise the pair and
    reduce to a 2045 x 2013 product. `SimCamera.camera` describes the truth.

    Parameters
    ----------
    mounting : Mounting
        Orientation on the sky.
    bad_pixels : BadPixelDensity
        Defect densities.

    Returns
    -------
    SimCamera
        Gain 7.7 e-/ADU, read noise 9 e-, overscan level 610 ADU; SATURATE 64935 ADU: LCO's
        Spectral saturation, 125000 e- per unbinned pixel, x 4 / gain.
    """
    saturation = round(125000.0 * 4 / 7.7)
    return SimCamera(
        name="fs01",
        family=CameraFamily.SPECTRAL,
        configuration_mode="full_frame",
        layout=fs01_layout(),
        electronics=(Electronics(7.7, 9.0, float(saturation), float(saturation)),),
        crosstalk=((0.0,),),
        pixel_scale=0.30,
        overscan_levels=(610.0,),
        site="coj",
        telescope="2m0-02",
        enclosure="clma",
        set_temperature=-100.0,
        mounting=mounting,
        bad_pixels=bad_pixels,
    )
