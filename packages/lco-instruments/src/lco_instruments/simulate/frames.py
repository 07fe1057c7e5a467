"""The forward model: camera signatures + sky -> one raw frame in LCO's format, with its truth.

Order of the model (each step is what the real detector does, in the order it does it):
light (sky, stars, twilight, through the camera's true mounting) x flat response + dark
current -> Poisson noise -> cosmic rays -> + fixed bias structure -> cut into amplifier
readouts by the simulator's own section table -> / gain (ADU) -> + read noise + overscan
offset -> clip at saturation -> + crosstalk ghosts -> 16-bit integers.
"""

from __future__ import annotations

import datetime as dt

import attrs
import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS

from lco_core._arrays import FloatImage, read_only
from lco_core.header import Header, HeaderCard
from lco_core.meta import ObsType
from lco_instruments.simulate.cameras import SimCamera
from lco_instruments.simulate.cosmics import CosmicRays, cosmic_rays
from lco_instruments.simulate.defects import BadPixels, draw_bad_pixels
from lco_instruments.simulate.detector import DarkCurrent, FlatField, bias_structure, dark_current, flat_field
from lco_instruments.simulate.mounting import Mounting, tan_wcs_with_cd
from lco_instruments.simulate.scene import StarCatalog, StarField, moffat_psf_image, project_stars

OBSTYPE_CODES = {
    ObsType.BIAS: "b",
    ObsType.DARK: "d",
    ObsType.SKYFLAT: "f",
    ObsType.EXPOSE: "e",
    ObsType.STANDARD: "s",
}
BoolImage = npt.NDArray[np.bool_]


@attrs.frozen(eq=False)
class Signatures:
    """A camera's fixed signatures on the assembled (mosaic) image, binned pixels.

    Attributes
    ----------
    bias : ndarray of float32
        The bias structure a master bias must recover, electrons (mean zero).
    dark : DarkCurrent
        Dark current at the set temperature, electrons per second.
    flat : FlatField
        Relative response; clipped mean 1 over the central half.
    bad_pixels : BadPixels
        Every defective pixel by kind (hot, warm columns, hot and dead clusters, low response).
    """

    bias: FloatImage  # electrons, the structure a master bias must recover
    dark: DarkCurrent  # electrons per second at the set temperature
    flat: FlatField  # relative response, central-half clipped mean 1
    bad_pixels: BadPixels


def camera_signatures(sim: SimCamera, *, seed: int) -> Signatures:
    """Draw a camera's bias structure, dark current, flat field and bad pixels (by seed).

    Isolated hot pixels come at ``sim.bad_pixels.hot``; warm columns and clusters at the
    other densities of ``sim.bad_pixels`` are drawn from a random stream of their own, so a
    camera without them gets exactly the signatures it always had.

    Parameters
    ----------
    sim : SimCamera
        The camera.
    seed : int
        Random seed.

    Returns
    -------
    Signatures
    """
    shape = sim.mosaic_shape
    rng = np.random.default_rng([seed, 1])
    bias = bias_structure(shape, rng=rng, amplitude=3.0)
    dark = dark_current(shape, rng=rng, hot_fraction=sim.bad_pixels.hot)
    flat = flat_field(shape, rng=rng)
    dark, flat, bad_pixels = draw_bad_pixels(dark, flat, sim.bad_pixels, rng=np.random.default_rng([seed, 5]))
    return Signatures(bias=bias, dark=dark, flat=flat, bad_pixels=bad_pixels)


@attrs.frozen(eq=False)
class Field:
    """The sky a telescope points at: true stars and the true WCS of the mosaic.

    Attributes
    ----------
    catalog : StarCatalog
        The true stars.
    center_ra, center_dec : float
        Field centre, degrees (ICRS).
    zero_points : dict of str to float
        Magnitude giving 1 e-/s, per filter.
    seeing_arcsec : float
        FWHM of the seeing, arcsec.
    """

    catalog: StarCatalog
    center_ra: float
    center_dec: float
    zero_points: dict[str, float]  # magnitude giving 1 e-/s, per filter
    seeing_arcsec: float = 2.0


@attrs.frozen
class FrameDefects:
    """Faults to inject into one exposure (each neutral by default), the truth of the quality tests.

    Attributes
    ----------
    pattern_amplitude : float
        Amplitude of periodic readout noise, electrons: a sinusoid along each readout's rows
        (the serial direction) at ``pattern_frequency``, its phase drawn afresh for every row
        (pick-up whose phase drifts from row to row), added before quantisation. 0: none.
    pattern_frequency : float
        Cycles per (binned) pixel along the readout's rows, in (0, 0.5].
    pattern_amplifiers : tuple of int
        Amplifiers (1-based) that pick it up; empty: all.
    stuck_fraction : float
        Fraction of ``stuck_amplifier``'s readout pixels (drawn at random) read out as exactly
        ``stuck_value`` ADU, as a corrupt Sinistro readout. 0: none.
    stuck_value : int
        ADU.
    stuck_amplifier : int
        1-based.
    level_shift : tuple of float
        Added to each amplifier's overscan level (the pedestal of a camera without overscan),
        ADU; empty: none.
    saturated_fraction : float
        Fraction of the mosaic's columns (the first ones) flooded far above the full well, as
        a very bright source or glare; every pixel there is clipped. 0: none.
    """

    pattern_amplitude: float = 0.0  # electrons
    pattern_frequency: float = 0.1  # cycles per pixel along the serial readout
    pattern_amplifiers: tuple[int, ...] = ()  # 1-based; empty: all
    stuck_fraction: float = 0.0
    stuck_value: int = 1000  # ADU
    stuck_amplifier: int = 1  # 1-based
    level_shift: tuple[float, ...] = ()  # ADU per amplifier
    saturated_fraction: float = 0.0  # of the mosaic's columns


#: No fault.
NO_DEFECTS = FrameDefects()


@attrs.frozen
class Exposure:
    """One exposure to simulate.

    Attributes
    ----------
    obstype : ObsType
        BIAS, DARK, SKYFLAT, EXPOSE or STANDARD.
    exptime : float
        Seconds.
    start : datetime.datetime
        DATE-OBS, UTC.
    number : int
        Frame number in the night (FRAMENUM, and the file name).
    filter : str
        FILTER.
    sky_rate : float
        Sky, electrons per second per pixel (science frames).
    flat_level : float
        Twilight level, electrons per pixel before the flat response (sky flats).
    dither_arcsec : (float, float)
        True pointing offset (east, north), arcsec.
    pointing_error_arcsec : (float, float)
        Header pointing minus truth (east, north), arcsec.
    temperature_offset : float
        CCDATEMP - CCDSTEMP, degrees Celsius.
    cosmic_rays : bool
        Deposit cosmic rays.
    object_name : str
        OBJECT.
    header_gain_factor : float
        The GAIN cards written are the true gain times this factor (a wrong header gain); the
        pixels keep the true gain. 1.0: the header is right.
    defects : FrameDefects
        Faults to inject (periodic noise, a stuck readout, a shifted level, a saturated region).
    rotation_deg : float
        True rotation of the field on the sky for this exposure, degrees (on top of the camera's
        mounting; a sequence's derotator or re-acquisition). 0: none.
    seeing_arcsec : float or None
        This exposure's seeing FWHM, arcsec; None: the field's.
    """

    obstype: ObsType
    exptime: float
    start: dt.datetime
    number: int
    filter: str = "rp"
    sky_rate: float = 3.0  # e- per second per pixel (science)
    flat_level: float = 25000.0  # e- per pixel (sky flats, before the flat response)
    dither_arcsec: tuple[float, float] = (0.0, 0.0)  # true pointing offset (east, north)
    pointing_error_arcsec: tuple[float, float] = (90.0, -60.0)  # header minus truth (east, north)
    temperature_offset: float = 0.0  # CCDATEMP - CCDSTEMP, deg C
    cosmic_rays: bool = True
    object_name: str = "simulated field"
    header_gain_factor: float = 1.0  # GAIN cards = true gain x factor; pixels keep the true gain
    defects: FrameDefects = NO_DEFECTS
    rotation_deg: float = 0.0  # on top of the mounting's
    seeing_arcsec: float | None = None  # None: the field's


@attrs.frozen(eq=False)
class FrameTruth:
    """What went into one frame. Images are on the mosaic grid (before trimming), electrons.

    Attributes
    ----------
    filename : str
        The raw file's name.
    obstype : ObsType
        OBSTYPE.
    exptime : float
        Seconds.
    filter : str
        FILTER.
    overscan : tuple of float
        Overscan level of each amplifier, ADU.
    expected : ndarray of float32
        Noise-free signal: light x flat + dark + bias structure, electrons.
    sky : float
        Sky per pixel before the flat, electrons.
    stars : StarField
        True positions (0-based, mosaic) and fluxes (electrons in the exposure).
    cosmic : CosmicRays
        The cosmic rays deposited.
    saturated : ndarray of bool
        Pixels clipped at the converter's saturation (in the video signal or after the
        crosstalk ghosts were added).
    wcs : astropy.wcs.WCS
        True WCS of the mosaic: CD = scale x R(rotation) @ P of the camera's mounting.
    header_wcs : astropy.wcs.WCS
        What the raw header claims: the nominal mounting (scale x P, no rotation) at the
        deliberately wrong pointing.
    fwhm_px : float
        Seeing FWHM, pixels.
    mounting : Mounting
        The camera's true mounting.
    header_gain_factor : float
        GAIN cards written / true gain (1.0: the header is right).
    defects : FrameDefects
        The faults injected.
    """

    filename: str
    obstype: ObsType
    exptime: float
    filter: str
    overscan: tuple[float, ...]  # ADU per amplifier
    expected: FloatImage  # noise-free signal: light x flat + dark + bias structure, e-
    sky: float  # e- per pixel before the flat
    stars: StarField  # true positions (0-based, mosaic), fluxes (e- in the exposure)
    cosmic: CosmicRays
    saturated: BoolImage  # pixels clipped at the full well
    wcs: WCS  # true WCS of the mosaic
    header_wcs: WCS  # nominal mounting, deliberately wrong pointing
    fwhm_px: float
    mounting: Mounting
    header_gain_factor: float = 1.0
    defects: FrameDefects = NO_DEFECTS


@attrs.frozen(eq=False)
class SimulatedFrame:
    """A raw frame ready to write: readouts (uint16 ADU), headers, and the truth.

    Attributes
    ----------
    filename : str
        LCO's raw file name (``...-e00.fits.fz``).
    primary : Header
        The primary header.
    readouts : tuple of ndarray of uint16
        One readout per amplifier, ADU.
    extension_headers : tuple of Header
        One header per readout.
    truth : FrameTruth
        What went in.
    """

    filename: str
    primary: Header
    readouts: tuple[npt.NDArray[np.uint16], ...]
    extension_headers: tuple[Header, ...]
    truth: FrameTruth


def filename_for(sim: SimCamera, exposure: Exposure) -> str:
    """LCO's raw file name of an exposure, ``{site}{tel}-{camera}-{dayobs}-{nnnn}-{code}00.fits.fz``.

    ``code`` is b, d, f, e or s for BIAS, DARK, SKYFLAT, EXPOSE and STANDARD.

    Parameters
    ----------
    sim : SimCamera
        The camera.
    exposure : Exposure
        The exposure.

    Returns
    -------
    str
    """
    day_obs = _day_obs(exposure.start)
    code = OBSTYPE_CODES.get(exposure.obstype, "x")
    telescope = sim.telescope.replace("-", "")
    return f"{sim.site}{telescope}-{sim.name}-{day_obs:%Y%m%d}-{exposure.number:04d}-{code}00.fits.fz"


def _day_obs(moment: dt.datetime) -> dt.date:
    # LCO's DAY-OBS is the UTC date at the start of the local night; a 12 h shift is close enough.
    return (moment - dt.timedelta(hours=12)).date()


def true_wcs(sim: SimCamera, field: Field, exposure: Exposure) -> WCS:
    """The true TAN WCS of an exposure's mosaic: the field centre moved by the dither.

    CRPIX is the mosaic centre and CD ``R(exposure.rotation_deg) @ sim.mounting.true_cd(sim.pixel_scale)``.

    Parameters
    ----------
    sim : SimCamera
        The camera (mosaic shape, pixel scale and mounting).
    field : Field
        The field.
    exposure : Exposure
        The exposure (its dither).

    Returns
    -------
    astropy.wcs.WCS
    """
    dx, dy = exposure.dither_arcsec
    dec = field.center_dec + dy / 3600.0
    ra = field.center_ra + dx / 3600.0 / np.cos(np.radians(dec))
    angle = np.radians(exposure.rotation_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    cd = rotation @ sim.mounting.true_cd(sim.pixel_scale)
    return tan_wcs_with_cd(ra, dec, shape=sim.mosaic_shape, cd=cd)


def header_wcs_of(sim: SimCamera, wcs: WCS, error_arcsec: tuple[float, float]) -> WCS:
    """The WCS a raw header states: nominal mounting, pointing off by ``error_arcsec``.

    Parameters
    ----------
    sim : SimCamera
        The camera (pixel scale and mounting).
    wcs : astropy.wcs.WCS
        The frame's true WCS.
    error_arcsec : (float, float)
        Header pointing minus truth (east, north), arcsec.

    Returns
    -------
    astropy.wcs.WCS
        Same CRPIX; CRVAL moved; CD ``sim.mounting.nominal_cd(sim.pixel_scale)``.
    """
    dec = float(wcs.wcs.crval[1]) + error_arcsec[1] / 3600.0
    ra = float(wcs.wcs.crval[0]) + error_arcsec[0] / 3600.0 / np.cos(np.radians(dec))
    return tan_wcs_with_cd(ra, dec, shape=sim.mosaic_shape, cd=sim.mounting.nominal_cd(sim.pixel_scale))


def _light(
    sim: SimCamera,
    signatures: Signatures,
    field: Field,
    exposure: Exposure,
    wcs: WCS,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float64], float, StarField, float]:
    """Expected light on the detector before the flat response, e- (image, sky, stars, fwhm)."""
    shape = sim.mosaic_shape
    seeing = field.seeing_arcsec if exposure.seeing_arcsec is None else exposure.seeing_arcsec
    fwhm = seeing / sim.pixel_scale
    empty = project_stars(field.catalog, wcs, shape, zero_point=0.0, exptime=0.0)
    if exposure.obstype in (ObsType.BIAS, ObsType.DARK) or exposure.exptime == 0:
        return np.zeros(shape), 0.0, empty, fwhm
    if exposure.obstype is ObsType.SKYFLAT:
        # Twilight: a bright uniform sky with the field's stars faintly on top (dithered frames
        # put them elsewhere each time, which is why the flat stack must clip per pixel).
        zero_point = field.zero_points.get(exposure.filter, 23.0) - 2.5  # short, bright: few counts
        stars = project_stars(field.catalog, wcs, shape, zero_point=zero_point, exptime=exposure.exptime)
        image = exposure.flat_level + moffat_psf_image(shape, stars.x, stars.y, stars.flux, fwhm_px=fwhm)
        return image.astype(np.float64), exposure.flat_level, stars, fwhm
    zero_point = field.zero_points.get(exposure.filter, 23.0)
    stars = project_stars(field.catalog, wcs, shape, zero_point=zero_point, exptime=exposure.exptime)
    sky = exposure.sky_rate * exposure.exptime
    image = sky + moffat_psf_image(shape, stars.x, stars.y, stars.flux, fwhm_px=fwhm)
    return image.astype(np.float64), sky, stars, fwhm


def _periodic(
    shape: tuple[int, int], defects: FrameDefects, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Periodic readout noise, electrons: a sinusoid along the rows, its phase new on every row."""
    ny, nx = shape
    phase = rng.uniform(0.0, 2 * np.pi, size=(ny, 1))
    x = np.arange(nx)[np.newaxis, :]
    wave: npt.NDArray[np.float64] = defects.pattern_amplitude * np.sin(
        2 * np.pi * defects.pattern_frequency * x + phase
    )
    return wave


def simulate_frame(
    sim: SimCamera, signatures: Signatures, field: Field, exposure: Exposure, *, seed: int
) -> SimulatedFrame:
    """Simulate one raw frame (deterministic by ``seed``) and keep everything that went in.

    Parameters
    ----------
    sim : SimCamera
        The camera.
    signatures : Signatures
        Its bias, dark and flat.
    field : Field
        The sky.
    exposure : Exposure
        What to expose.
    seed : int
        Random seed (combined with the exposure number).

    Returns
    -------
    SimulatedFrame
    """
    layout = sim.layout
    shape = sim.mosaic_shape
    rng = np.random.default_rng([seed, exposure.number, 2])
    wcs = true_wcs(sim, field, exposure)
    light, sky, stars, fwhm = _light(sim, signatures, field, exposure, wcs, rng)
    temperature = sim.set_temperature + exposure.temperature_offset
    dark_rate = signatures.dark.rate * np.exp(sim.dark_temperature_coefficient * exposure.temperature_offset)
    expected = light * signatures.flat.response + dark_rate * exposure.exptime
    defects = exposure.defects
    if defects.saturated_fraction > 0:
        flood = 10.0 * max(e.saturation * e.gain for e in sim.electronics)
        expected[:, : round(defects.saturated_fraction * shape[1])] += flood
    electrons = rng.poisson(expected).astype(np.float64)
    cosmic = cosmic_rays(shape, exptime=exposure.exptime if exposure.cosmic_rays else 0.0, rng=rng)
    electrons += cosmic.image
    electrons += signatures.bias
    expected = expected + signatures.bias

    signal_electrons = layout.cut(electrons, fill=0.0)
    matrix = np.asarray(sim.crosstalk)
    levels, direct = [], []
    faults = np.random.default_rng([seed, exposure.number, 6])  # the defects' own stream
    for index, (signal, amp, electronics, base) in enumerate(
        zip(signal_electrons, layout.amplifiers, sim.electronics, sim.overscan_levels, strict=True), start=1
    ):
        level = base + float(rng.normal(0.0, 2.0)) if amp.biassec is not None else sim.pedestal
        if defects.level_shift:
            level += defects.level_shift[index - 1]
        noise = rng.normal(0.0, electronics.read_noise / electronics.gain, size=amp.shape)
        if defects.pattern_amplitude and (
            not defects.pattern_amplifiers or index in defects.pattern_amplifiers
        ):
            noise += _periodic(amp.shape, defects, faults) / electronics.gain
        # The video signal clips at the converter's saturation; the ghost a source leaves in
        # the other amplifiers follows the clipped signal above its offset.
        direct.append(np.minimum(signal / electronics.gain + noise + level, electronics.saturation))
        levels.append(level)
    raw, saturated_readouts = [], []
    for victim, (amp, electronics) in enumerate(zip(layout.amplifiers, sim.electronics, strict=True)):
        ghost = np.zeros(amp.shape)
        for source in range(len(direct)):
            if source != victim and matrix[source, victim] != 0.0:
                ghost += matrix[source, victim] * (direct[source] - levels[source])
        adu = direct[victim] + ghost
        clipped = adu >= electronics.saturation
        adu = np.where(clipped, electronics.saturation, adu)
        readout = np.clip(np.round(adu), 0, 65535).astype(np.uint16)
        if defects.stuck_fraction > 0 and victim + 1 == defects.stuck_amplifier:
            readout[faults.random(amp.shape) < defects.stuck_fraction] = defects.stuck_value
        raw.append(readout)
        saturated_readouts.append(clipped.astype(np.float64))
    saturated = layout.assemble(saturated_readouts) > 0.5

    filename = filename_for(sim, exposure)
    claimed = header_wcs_of(sim, wcs, exposure.pointing_error_arcsec)
    primary, extensions = _headers(sim, exposure, filename, claimed, temperature)
    truth = FrameTruth(
        filename=filename,
        obstype=exposure.obstype,
        exptime=exposure.exptime,
        filter=exposure.filter,
        overscan=tuple(levels),
        expected=read_only(expected.astype(np.float32)),
        sky=sky,
        stars=stars,
        cosmic=cosmic,
        saturated=read_only(saturated),
        wcs=wcs,
        header_wcs=claimed,
        fwhm_px=fwhm,
        mounting=sim.mounting,
        header_gain_factor=exposure.header_gain_factor,
        defects=exposure.defects,
    )
    return SimulatedFrame(filename, primary, tuple(raw), extensions, truth)


def _sexagesimal(value: float, *, hours: bool) -> str:
    """'HH:MM:SS.sss' (hours) or '+DD:MM:SS.ss' (degrees), rounded before splitting so the
    seconds never read 60."""
    digits = 3 if hours else 2
    sign = "-" if value < 0 else ("" if hours else "+")
    scaled = round(abs(value) / (15.0 if hours else 1.0) * 3600 * 10**digits)
    whole, fraction = divmod(scaled, 10**digits)
    minutes, seconds = divmod(whole, 60)
    units, minutes = divmod(minutes, 60)
    return f"{sign}{units:02d}:{minutes:02d}:{seconds:02d}.{fraction:0{digits}d}"


def _headers(
    sim: SimCamera, exposure: Exposure, filename: str, header_wcs: WCS, temperature: float
) -> tuple[Header, tuple[Header, ...]]:
    layout = sim.layout
    start = exposure.start.astimezone(dt.UTC)
    ra, dec = (float(v) for v in header_wcs.wcs.crval)
    cd = header_wcs.wcs.cd
    crpix = header_wcs.wcs.crpix
    single = len(layout.amplifiers) == 1
    first = sim.electronics[0]
    factor = exposure.header_gain_factor  # a wrong header gain: the cards lie, the pixels do not
    ccdsum = f"{layout.binning[0]} {layout.binning[1]}"
    cards = [
        HeaderCard("ORIGIN", "LCOGT", "Organization responsible for the data"),
        HeaderCard("SITEID", sim.site, "ID code of the Observatory site"),
        HeaderCard("ENCID", sim.enclosure, "ID code of the Enclosure"),
        HeaderCard("TELID", "1m0a", "ID code of the Telescope"),
        HeaderCard("TELESCOP", sim.telescope, "The Name of the Telescope"),
        HeaderCard("OBSTYPE", exposure.obstype.value, "Observation type"),
        HeaderCard("FRAMENUM", exposure.number, "Running frame number"),
        HeaderCard("ORIGNAME", filename.replace(".fits.fz", ".fits"), "Fname written by ICS"),
        HeaderCard("TIMESYS", "UTC", "Time system used"),
        HeaderCard("DATE-OBS", start.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3], "[UTC] Start of the observation"),
        HeaderCard("DAY-OBS", f"{_day_obs(start):%Y%m%d}", "[UTC] Date at start of local night"),
        HeaderCard("UTSTART", start.strftime("%H:%M:%S.%f")[:-3], "[UTC] Start time"),
        HeaderCard("EXPTIME", float(exposure.exptime), "[s] Exposure length"),
        HeaderCard("FILTER1", "air"),
        HeaderCard("FILTER2", exposure.filter),
        HeaderCard("FILTER3", "air"),
        HeaderCard("FILTER", exposure.filter, "Filter used"),
        HeaderCard("INSTRUME", sim.name, "Instrument used"),
        HeaderCard("CONFMODE", sim.configuration_mode, "Camera mode configuration"),
        # A multi-extension primary's GAIN is 0.0 on real Sinistros: the gains are per extension.
        HeaderCard("GAIN", first.gain * factor if single else 0.0, "[e-/count] Pixel gain"),
        HeaderCard("RDNOISE", first.read_noise, "[e-/pixel] Read noise"),
        HeaderCard("SATURATE", first.saturation, "[ADU] Saturation level"),
        HeaderCard("MAXLIN", first.nonlinearity, "[ADU] Non-linearity level"),
        HeaderCard("DETSIZE", layout.detsize, "[pixel] Detector size"),
        HeaderCard("CCDSUM", ccdsum, "CCD on-chip summing/binning"),
        HeaderCard("CCDSTEMP", sim.set_temperature, "[deg C] CCD set temperature"),
        HeaderCard("CCDATEMP", round(temperature, 3), "[deg C] CCD actual temperature"),
        HeaderCard("PIXSCALE", sim.pixel_scale, "[arcsec/pixel] Nominal pixel scale"),
        HeaderCard("OBJECT", exposure.object_name, "Object name"),
        HeaderCard("RA", _sexagesimal(ra, hours=True), "[HH:MM:SS.sss] RA of telescope pointing"),
        HeaderCard("DEC", _sexagesimal(dec, hours=False), "[sDD:MM:SS.ss] Dec of telescope pointing"),
        HeaderCard("RADESYS", "ICRS"),
        HeaderCard("AIRMASS", 1.2, "Effective mean airmass"),
        HeaderCard("CTYPE1", "RA---TAN"),
        HeaderCard("CTYPE2", "DEC--TAN"),
        HeaderCard("CRPIX1", float(crpix[0])),
        HeaderCard("CRPIX2", float(crpix[1])),
        HeaderCard("CRVAL1", ra),
        HeaderCard("CRVAL2", dec),
        HeaderCard("CD1_1", float(cd[0, 0])),
        HeaderCard("CD1_2", float(cd[0, 1])),
        HeaderCard("CD2_1", float(cd[1, 0])),
        HeaderCard("CD2_2", float(cd[1, 1])),
    ]
    if sim.dark_temperature_coefficient:
        cards.append(
            HeaderCard("DRKTCOEF", sim.dark_temperature_coefficient, "[1/K] Dark temperature coefficient")
        )
    if single:
        cards += _section_cards(sim, 0)
        cards.append(HeaderCard("TRIMSEC", layout.written_trimsec, "[binned pixel] Useful data"))
        return Header(tuple(cards)), (Header(),)
    cards += [
        HeaderCard("DATASEC", "UNKNOWN"),
        HeaderCard("BIASSEC", "UNKNOWN"),
        HeaderCard("DETSEC", "UNKNOWN"),
        HeaderCard("TRIMSEC", layout.trimsec, "[binned pixel] Useful data"),
    ]
    n = len(layout.amplifiers)
    cards += [
        HeaderCard(f"CRSTLK{i + 1}{j + 1}", float(sim.crosstalk[i][j]), f"Signal from Q{i + 1} onto Q{j + 1}")
        for i in range(n)
        for j in range(n)
        if i != j
    ]
    extensions = tuple(
        Header(
            (
                HeaderCard("CCDSUM", ccdsum),
                *_section_cards(sim, index),
                HeaderCard("GAIN", sim.electronics[index].gain * factor, "Pixel gain"),
                HeaderCard("EXTVER", index + 1, "Extension instance"),
            )
        )
        for index in range(n)
    )
    return Header(tuple(cards)), extensions


def _section_cards(sim: SimCamera, index: int) -> list[HeaderCard]:
    """DETSEC, BIASSEC and DATASEC of one amplifier, verbatim from the layout table."""
    amp = sim.layout.amplifiers[index]
    return [
        HeaderCard("DETSEC", amp.detsec if sim.multi_extension else "UNKNOWN", "Detector section"),
        HeaderCard("BIASSEC", amp.biassec or "UNKNOWN", "Section of overscan data"),
        HeaderCard("DATASEC", amp.written_datasec, "Data section"),
    ]
