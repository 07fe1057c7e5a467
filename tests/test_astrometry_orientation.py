"""Astrometry whatever way the camera is mounted: header WCS parsing, mountings, any rotation and parity.

Expected values come from outside the code under test: astropy's own reading of the same
headers, the real files' own CD matrices and recorded solutions, Gaia and ATLAS-RefCat2 stars
matched in real LCO catalogues, and simulated fields whose true WCS we chose.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import attrs
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import fit_wcs_from_points
from test_astrometry import (
    SCALE,
    SHAPE,
    SimulatedField,
    _grid_errors,
    _perturbed,
    _read_real_field,
    _rms,
    _simulated_field,
)

from lco_core._arrays import Float64Array
from lco_core.catalog import ReferenceCatalog
from lco_core.io._fits import to_header
from lco_core.io.meta import parse_frame_meta, parse_header_wcs
from lco_core.orientation import Orientation
from lco_instruments.mounting import MOUNTINGS, mounting_for
from lco_stages.astrometry import WCSERR_FAILED, WCSERR_SOLVED, AstrometrySolution, solve_astrometry
from lco_stages.wcs import AstrometrySearch, starting_guess

#: The 8 signed axis permutations: every way a camera's axes can be laid on north and east.
SIGNED_PERMUTATIONS = [
    np.array(m, dtype=np.float64)
    for m in (
        [[1, 0], [0, 1]], [[-1, 0], [0, 1]], [[1, 0], [0, -1]], [[-1, 0], [0, -1]],
        [[0, 1], [1, 0]], [[0, -1], [1, 0]], [[0, 1], [-1, 0]], [[0, -1], [-1, 0]],
    )
]  # fmt: skip


@contextlib.contextmanager
def _quiet_fits() -> Iterator[None]:
    with warnings.catch_warnings():
        # The real files' TDISP formats, OBSGEO and DATE keywords draw astropy's fix-up warnings.
        warnings.simplefilter("ignore", VerifyWarning)
        warnings.simplefilter("ignore", FITSFixedWarning)
        yield


def _headers_with_wcs(real_data: Path) -> list[tuple[str, fits.Header]]:
    found = []
    with _quiet_fits():
        for path in sorted(real_data.glob("*/*.fits*")):
            with fits.open(path) as hdul:
                for hdu in hdul:
                    if "CTYPE1" in hdu.header:
                        found.append((path.name, hdu.header.copy()))
    return found


# --------------------------------------------------------------------------------------------
# The header's WCS, read as astropy reads it.


def test_every_real_header_wcs_reads_as_astropy_reads_it(real_data: Path) -> None:
    headers = _headers_with_wcs(real_data)
    assert len(headers) >= 15
    with _quiet_fits():
        for name, header in headers:
            parsed = parse_header_wcs(to_header(header))
            assert parsed is not None, name
            theirs = WCS(header).celestial
            np.testing.assert_allclose(
                np.array(parsed.cd), theirs.pixel_scale_matrix, rtol=1e-12, err_msg=name
            )
            np.testing.assert_allclose(parsed.crval, theirs.wcs.crval, rtol=1e-12, err_msg=name)
            np.testing.assert_allclose(parsed.crpix, theirs.wcs.crpix, rtol=1e-12, err_msg=name)


def _synthetic(cards: dict[str, object]) -> fits.Header:
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRVAL1"], header["CRVAL2"] = 150.0, -30.0
    header["CRPIX1"], header["CRPIX2"] = 1000.5, 1020.5
    for key, value in cards.items():
        header[key] = value
    return header


@pytest.mark.parametrize(
    "cards",
    [
        {"CDELT1": -1e-4, "CDELT2": 1e-4, "CROTA2": 33.0},
        {"CDELT1": -1e-4, "CDELT2": -1e-4, "CROTA2": -120.0},
        {"CDELT1": 1e-4, "CDELT2": 1e-4, "PC1_1": 0.0, "PC1_2": 1.0, "PC2_1": -1.0, "PC2_2": 0.0},
        {"CDELT1": 2e-4, "CDELT2": 1e-4, "PC1_2": 0.3},  # absent PC elements are the identity's
        {"CD1_1": -1e-4, "CD2_2": -1e-4},  # absent CD elements are 0
        {
            "CTYPE1": "DEC--TAN",
            "CTYPE2": "RA---TAN",
            "CRVAL1": -30.0,
            "CRVAL2": 150.0,
            "CD1_1": 1e-5,
            "CD1_2": 1e-4,
            "CD2_1": -1e-4,
        },
    ],
)
def test_cd_pc_and_crota_forms_read_as_astropy_reads_them(cards: dict[str, object]) -> None:
    header = _synthetic(cards)
    parsed = parse_header_wcs(to_header(header))
    assert parsed is not None
    theirs = WCS(header)
    matrix = theirs.pixel_scale_matrix
    crval = theirs.wcs.crval
    if theirs.wcs.lng == 1:  # Dec first: astropy keeps the header's order, we put RA first
        matrix, crval = matrix[::-1], crval[::-1]
    np.testing.assert_allclose(np.array(parsed.cd), matrix, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(parsed.crval, crval, rtol=1e-12)


@pytest.mark.parametrize(
    "cards",
    [
        {"CTYPE1": None},
        {"CTYPE1": "GLON-TAN", "CTYPE2": "GLAT-TAN", "CD1_1": -1e-4, "CD2_2": 1e-4},
        {"CD1_1": 1e-4, "CD1_2": 1e-4, "CD2_1": 1e-4, "CD2_2": 1e-4},  # singular
        {"CD1_1": "12.3.4", "CD2_2": 1e-4},  # unparsable
        {"CDELT1": -1e-4},  # no CDELT2
        {"CD1_1": -1e-4, "CD2_2": 1e-4, "CRVAL2": 95.0},  # no such declination
    ],
)
def test_an_unusable_header_wcs_is_none_and_never_refuses_the_frame(cards: dict[str, object]) -> None:
    header = _synthetic({k: v for k, v in cards.items() if v is not None})
    if cards.get("CTYPE1", "") is None:
        del header["CTYPE1"]
    assert parse_header_wcs(to_header(header)) is None
    for key, value in {
        "INSTRUME": "kb70", "OBSTYPE": "EXPOSE", "SITEID": "cpt", "TELESCOP": "1m0-10",
        "DATE-OBS": "2016-01-01T01:00:00", "DAY-OBS": "20151231", "EXPTIME": 10.0, "CCDSUM": "2 2",
    }.items():  # fmt: skip
        header[key] = value
    assert parse_frame_meta(to_header(header), path="x.fits", hdu="0").header_wcs is None


def test_orientation_reads_parity_and_north() -> None:
    assert not Orientation.north_up_east_left().mirrored
    assert Orientation.north_up_east_left().north_angle_deg == 0.0
    kb70 = Orientation(((-2e-4, 0.0), (0.0, -2e-4)))
    assert kb70.mirrored
    assert kb70.north_angle_deg == 180.0
    assert kb70.matrix == ((-1.0, 0.0), (0.0, -1.0))
    assert Orientation(((0.0, 1.0), (-1.0, 0.0))).north_angle_deg == 90.0  # north toward -x
    with pytest.raises(ValueError, match="non-singular"):
        Orientation(((1.0, 1.0), (1.0, 1.0)))


# --------------------------------------------------------------------------------------------
# The mounting table says what the cameras' own headers say.


def _nearest_signed_permutation(cd: Float64Array) -> tuple[tuple[float, float], tuple[float, float]]:
    unit = cd / math.sqrt(abs(np.linalg.det(cd)))
    best = min(SIGNED_PERMUTATIONS, key=lambda p: float(np.abs(unit - p).max()))
    assert float(np.abs(unit - best).max()) < 0.02  # within about a degree of a right angle
    return ((float(best[0, 0]), float(best[0, 1])), (float(best[1, 0]), float(best[1, 1])))


def test_the_mounting_table_is_what_each_cameras_headers_say(real_data: Path) -> None:
    seen: dict[str, set[tuple[tuple[float, float], tuple[float, float]]]] = {}
    headers = _headers_with_wcs(real_data)
    headers.append(("test_header", fits.Header.fromtextfile(real_data / "neoexchange" / "test_header")))
    for _, header in headers:
        camera = str(header.get("INSTRUME", "")).lower()
        with _quiet_fits():
            matrix = WCS(header).celestial.pixel_scale_matrix
        seen.setdefault(camera, set()).add(_nearest_signed_permutation(matrix))
    assert set(MOUNTINGS) <= set(seen)
    for camera, orientation in MOUNTINGS.items():
        assert seen[camera] == {orientation.matrix}, camera
    assert mounting_for("KB70 ") == MOUNTINGS["kb70"]
    assert mounting_for("fa99") is None


# --------------------------------------------------------------------------------------------
# Any rotation, either parity, whatever the prior says.


def _reoriented(field: SimulatedField, turn: Float64Array) -> SimulatedField:
    """The same sky seen by a camera whose axes are turned (and flipped) by a signed permutation."""
    ny, nx = SHAPE
    centre = np.array([(nx + 1) / 2.0, (ny + 1) / 2.0])
    moved = turn @ np.vstack([field.x - centre[0], field.y - centre[1]]) + centre[:, np.newaxis]
    truth = field.wcs.deepcopy()
    truth.wcs.cd = field.wcs.wcs.cd @ turn.T  # turn is orthogonal: its inverse is its transpose
    truth.wcs.crpix = centre + turn @ (field.wcs.wcs.crpix - centre)
    truth.wcs.set()
    return attrs.evolve(field, x=moved[0], y=moved[1], wcs=truth)


@pytest.fixture(scope="module")
def plain_field() -> SimulatedField:
    return _simulated_field(1)


def _solve(field: SimulatedField, guess: WCS, **options: float | bool) -> AstrometrySolution:
    return solve_astrometry(
        field.x, field.y, field.flux, field.reference, shape=SHAPE, guess=guess, pixel_scale_arcsec=SCALE,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


def _north_up_guess(field: SimulatedField, *, offset_arcmin: float, position_angle_deg: float) -> WCS:
    guess = _perturbed(
        field.wcs, offset_arcmin=offset_arcmin, position_angle_deg=position_angle_deg, rotation_deg=0
    )
    guess.wcs.cd = np.array(Orientation.north_up_east_left().cd(SCALE))
    guess.wcs.set()
    return guess


@pytest.mark.parametrize("permutation", range(8))
def test_every_mounting_solves_with_no_prior_and_with_a_wrong_one(
    plain_field: SimulatedField, permutation: int
) -> None:
    turn = SIGNED_PERMUTATIONS[permutation]
    field = _reoriented(plain_field, turn)
    # The field's true north is 30 deg from +y, then turned; the guess says north up, east left.
    guess = _north_up_guess(field, offset_arcmin=6.0, position_angle_deg=45.0 * permutation)
    for known in (False, True):
        solution = _solve(field, guess, orientation_known=known)
        assert solution.wcserr == WCSERR_SOLVED, solution.reason
        assert solution.wcs is not None
        # Against the truth, everywhere on the image (0.03 px centroid noise: a few mas).
        assert float(np.max(_grid_errors(field, solution))) < 0.1
        truth_mirrored = bool(np.linalg.det(field.wcs.wcs.cd) > 0)
        assert bool(np.linalg.det(solution.wcs.pixel_scale_matrix) > 0) == truth_mirrored


def test_a_known_orientation_is_searched_first_and_faster(plain_field: SimulatedField) -> None:
    import time

    field = _reoriented(plain_field, SIGNED_PERMUTATIONS[3])
    right = _perturbed(field.wcs, offset_arcmin=6.0, position_angle_deg=100.0, rotation_deg=1.5)
    timings = {}
    for known in (True, False):
        start = time.perf_counter()
        solution = _solve(field, right, orientation_known=known)
        timings[known] = time.perf_counter() - start
        assert solution.wcserr == WCSERR_SOLVED, solution.reason
    # The prior's narrow pass tries one parity and 10 of 360 degrees.
    assert timings[True] < timings[False]


@pytest.mark.parametrize(("rotation_deg", "mirror"), [(12.0, False), (0.0, True), (170.0, False)])
def test_narrow_limits_are_honoured(plain_field: SimulatedField, rotation_deg: float, mirror: bool) -> None:
    guess = _perturbed(plain_field.wcs, offset_arcmin=3.0, position_angle_deg=40.0, rotation_deg=rotation_deg)
    if mirror:
        guess.wcs.cd = guess.wcs.cd @ np.diag([-1.0, 1.0])
        guess.wcs.set()
    narrow = _solve(plain_field, guess, max_rotation_deg=5.0, allow_mirror=False)
    assert narrow.wcserr == WCSERR_FAILED
    assert narrow.wcs is None
    assert "5 deg" in narrow.reason
    # The same guess with the default (plate solver's) limits solves.
    solved = _solve(plain_field, guess)
    assert solved.wcserr == WCSERR_SOLVED, solved.reason
    assert float(np.max(_grid_errors(plain_field, solved))) < 0.1


def test_random_sources_never_solve_even_searching_everything(plain_field: SimulatedField) -> None:
    guess = _north_up_guess(plain_field, offset_arcmin=5.0, position_angle_deg=40.0)
    ny, nx = SHAPE
    for seed, n_sources in itertools.product(range(3), (30, 300, 2000)):
        rng = np.random.default_rng([n_sources, seed, 7])
        x, y = rng.uniform(0.5, nx + 0.5, n_sources), rng.uniform(0.5, ny + 0.5, n_sources)
        solution = solve_astrometry(
            x, y, rng.lognormal(0.0, 1.0, n_sources), plain_field.reference, shape=SHAPE, guess=guess,
            pixel_scale_arcsec=SCALE, orientation_known=False,
        )  # fmt: skip
        assert solution.wcserr == WCSERR_FAILED
        assert "no pattern" in solution.reason
        assert "any rotation, either parity" in solution.reason


def test_search_limits_are_validated() -> None:
    assert AstrometrySearch() == AstrometrySearch(10.0, 180.0, True, 0.05)
    for bad in ({"radius_arcmin": -1.0}, {"max_rotation_deg": 181.0}, {"scale_tolerance": 0.9}):
        with pytest.raises(ValueError, match="must be within"):
            AstrometrySearch(**bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Real fields.


@attrs.frozen(eq=False)
class RealCatalogue:
    """Detections of a real LCO frame and the reference stars of its field."""

    x: Float64Array
    y: Float64Array
    flux: Float64Array
    reference: ReferenceCatalog
    header: fits.Header | None
    original: WCS  # the field's own solution (header) or astropy's fit of its matched stars
    shape: tuple[int, int]
    pixel_scale: float


def _neoexchange(real_data: Path) -> RealCatalogue:
    with _quiet_fits():
        field = _read_real_field(real_data / "neoexchange")
    return RealCatalogue(
        field.x,
        field.y,
        field.flux,
        field.reference,
        field.header,
        field.original,
        field.shape,
        field.pixel_scale,
    )


def _matched_rms_arcsec(field: RealCatalogue, wcs: WCS) -> tuple[float, int]:
    """Rms (arcsec) of detections through ``wcs`` against their reference stars within 1 arcsec
    (astropy's own matching, one pair per reference star)."""
    ra, dec = wcs.all_pix2world(field.x, field.y, 1)
    detections = SkyCoord(ra, dec, unit="deg")
    stars = SkyCoord(field.reference.ra, field.reference.dec, unit="deg")
    _, separation, _ = stars.match_to_catalog_sky(detections)
    close = separation < 1.0 * u.arcsec
    return _rms(separation[close].to_value(u.arcsec)), int(close.sum())


def _pipeline_guess(field: RealCatalogue, header: fits.Header) -> tuple[WCS, bool]:
    """What solve_wcs would start from for a frame with this header: its pointing and orientation."""
    meta = parse_frame_meta(to_header(header), path="ldac_test_catalog.fits", hdu="LDAC_IMHEAD")
    guess = starting_guess(meta, field.shape, field.pixel_scale, mounting=mounting_for(meta.camera))
    assert guess is not None
    return guess.wcs, guess.orientation_from != "none"


def _without_wcs(header: fits.Header, camera: str) -> fits.Header:
    stripped = header.copy()
    for key in (
        "CTYPE1",
        "CTYPE2",
        "CD1_1",
        "CD1_2",
        "CD2_1",
        "CD2_2",
        "CRVAL1",
        "CRVAL2",
        "CRPIX1",
        "CRPIX2",
    ):
        stripped.remove(key, ignore_missing=True)
    stripped["INSTRUME"] = camera
    return stripped


@pytest.mark.parametrize("start", ["header", "camera mounting", "no prior", "north up, east left"])
def test_the_real_kb76_field_solves_from_the_pipelines_own_starting_guess(
    real_data: Path, start: str
) -> None:
    field = _neoexchange(real_data)
    assert field.header is not None
    header = field.header
    if start == "camera mounting":
        header = _without_wcs(header, "kb76")
    elif start == "no prior":
        header = _without_wcs(header, "kb00")  # a camera nobody has a mounting for
    elif start == "north up, east left":
        header = header.copy()
        header["CD1_1"], header["CD1_2"], header["CD2_1"], header["CD2_2"] = -1.3e-4, 0.0, 0.0, 1.3e-4
    guess, known = _pipeline_guess(field, header)
    assert known == (start != "no prior")
    solution = solve_astrometry(
        field.x, field.y, field.flux, field.reference, shape=field.shape, guess=guess,
        pixel_scale_arcsec=field.pixel_scale, orientation_known=known,
    )  # fmt: skip
    assert solution.wcserr == WCSERR_SOLVED, solution.reason
    assert solution.wcs is not None
    ours, n_ours = _matched_rms_arcsec(field, solution.wcs)
    theirs, n_theirs = _matched_rms_arcsec(field, field.original)
    # Measured (bench/real_data.py): 0.226 arcsec (ours), 0.242 (the header's UCAC4
    # solution), 112 Gaia stars each.
    assert ours <= theirs + 0.05
    assert n_ours >= n_theirs - 3
    assert solution.n_matched >= 100


def _banzai(real_data: Path, name: str, shape: tuple[int, int], pixel_scale: float) -> RealCatalogue:
    table = fits.getdata(real_data / "banzai" / name, 1)
    x, y = (np.asarray(table[c], dtype=np.float64) for c in ("x", "y"))
    ra, dec = (np.asarray(table[c], dtype=np.float64) for c in ("ra", "dec"))
    reference = ReferenceCatalog(ra, dec, {"r": np.asarray(table["rmag"], dtype=np.float64)})
    # The second method: astropy's TAN-SIP fit of the catalogue's own pairs.
    original = fit_wcs_from_points((x - 1.0, y - 1.0), SkyCoord(ra, dec, unit="deg"), sip_degree=3)
    flux = np.asarray(table["flux"], dtype=np.float64)
    return RealCatalogue(x, y, flux, reference, None, original, shape, pixel_scale)


def _north_up_at(field: RealCatalogue, *, offset_arcmin: float, position_angle_deg: float) -> WCS:
    """A north-up, east-left guess pointing ``offset_arcmin`` from the field's true centre."""
    ny, nx = field.shape
    centre = field.original.all_pix2world([[(nx + 1) / 2.0, (ny + 1) / 2.0]], 1)[0]
    pointing = SkyCoord(*centre, unit="deg").directional_offset_by(
        position_angle_deg * u.deg, offset_arcmin * u.arcmin
    )
    guess = WCS(naxis=2)
    guess.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    guess.wcs.crval = [pointing.ra.deg, pointing.dec.deg]
    guess.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]
    guess.wcs.cd = np.array(Orientation.north_up_east_left().cd(field.pixel_scale))
    guess.wcs.set()
    return guess


@pytest.mark.parametrize(
    ("name", "shape", "pixel_scale"),
    [
        # A Sinistro turned 180 degrees (CD about diag(+s, -s)).
        ("cpt1m012-fa06-20200113-0102-matched-cat.fits", (4096, 4096), 0.389),
        # A MuSCAT3 channel, mirrored and turned 7.6 degrees.
        ("ogg2m001-ep04-20201006-0097-matched-cat.fits", (2048, 2048), 0.27),
    ],
)
def test_real_banzai_catalogues_solve_without_any_orientation_prior(
    real_data: Path, name: str, shape: tuple[int, int], pixel_scale: float
) -> None:
    field = _banzai(real_data, name, shape, pixel_scale)
    guess = _north_up_at(field, offset_arcmin=4.0, position_angle_deg=130.0)
    solution = solve_astrometry(
        field.x, field.y, field.flux, field.reference, shape=shape, guess=guess,
        pixel_scale_arcsec=pixel_scale, orientation_known=False,
    )  # fmt: skip
    assert solution.wcserr == WCSERR_SOLVED, solution.reason
    assert solution.wcs is not None
    ours, n_ours = _matched_rms_arcsec(field, solution.wcs)
    theirs, _ = _matched_rms_arcsec(field, field.original)
    assert ours <= theirs + 0.05
    assert n_ours >= 0.9 * len(field.x)
    truth = Orientation(field.original.pixel_scale_matrix.tolist())
    found = Orientation(solution.wcs.pixel_scale_matrix.tolist())
    assert found.mirrored == truth.mirrored
    assert found.north_angle_deg == pytest.approx(truth.north_angle_deg, abs=0.05)


def test_real_raw_headers_start_from_their_own_orientation(real_data: Path) -> None:
    raw = [
        *sorted(real_data.glob("ingester/*-[esx]00.fits.fz")),
        real_data / "neoexchange/mef_raw_test_frame.fits",
    ]
    assert len(raw) == 4  # fl10 e00 and s00, fl08 x00, fa05
    for path in raw:
        with _quiet_fits():
            header = fits.getheader(path, 1 if path.suffix == ".fz" else 0)
            theirs = WCS(header).celestial.pixel_scale_matrix
        meta = parse_frame_meta(to_header(header), path=str(path), hdu="0")
        guess = starting_guess(meta, (1000, 1000), 0.5, mounting=None)
        assert guess is not None
        assert guess.orientation_from == "header"
        np.testing.assert_allclose(
            guess.wcs.pixel_scale_matrix / (0.5 / 3600.0),
            theirs / math.sqrt(abs(np.linalg.det(theirs))),
            atol=1e-12,
        )
        assert meta.pointing is not None
        assert (
            SkyCoord(*guess.wcs.wcs.crval, unit="deg")
            .separation(SkyCoord(str(header["RA"]), str(header["DEC"]), unit=(u.hourangle, u.deg)))
            .arcsec
            < 0.01
        )


def test_no_pointing_no_guess_and_a_wcs_alone_is_a_pointing() -> None:
    header = _synthetic({"CD1_1": -1e-4, "CD2_2": -1e-4})
    for key, value in {
        "INSTRUME": "kb70", "OBSTYPE": "EXPOSE", "SITEID": "cpt", "TELESCOP": "1m0-10",
        "DATE-OBS": "2016-01-01T01:00:00", "DAY-OBS": "20151231", "EXPTIME": 10.0, "CCDSUM": "2 2",
    }.items():  # fmt: skip
        header[key] = value
    meta = parse_frame_meta(to_header(header), path="x.fits", hdu="0")
    guess = starting_guess(meta, (100, 200), 0.5)
    assert guess is not None
    assert tuple(guess.wcs.wcs.crval) == (150.0, -30.0)
    assert tuple(guess.wcs.wcs.crpix) == (100.5, 50.5)
    del header["CTYPE1"]
    assert (
        starting_guess(parse_frame_meta(to_header(header), path="x.fits", hdu="0"), (100, 200), 0.5) is None
    )
