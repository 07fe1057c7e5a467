"""Stage settings (issue 13): declared once per stage, set from a TOML file and -p, recorded as applied."""

from __future__ import annotations

import json
import pickle
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from helpers import load, reduce

from lco_cli.catalogs import read_reference_file
from lco_cli.main import main
from lco_cli.settings import (
    COMMAND_LINE,
    SettingsError,
    choose_settings,
    format_settings,
    parse_assignment,
    settings_table,
)
from lco_cli.work import ScienceTask
from lco_core import Frame, MaskBit, ObsType, ProcessingStep
from lco_core.io import read_master, read_product
from lco_core.master import Master
from lco_core.meta import FrameMeta
from lco_core.parameters import (
    InvalidSettingError,
    Parameter,
    Settings,
    SettingValue,
    StageSettings,
    UnknownSettingError,
)
from lco_instruments.simulate import Night, make_field, simulate_night
from lco_instruments.simulate.cameras import sbig
from lco_instruments.simulate.cosmics import cosmic_rays
from lco_stages.bpm import BadPixelSettings, make_bad_pixel_mask
from lco_stages.coadd import CoaddSettings, coadd, frame_source
from lco_stages.cosmic import CosmicRaySettings, mask_cosmic_rays
from lco_stages.masters import StackSettings, make_master_bias, make_master_dark, make_master_flat
from lco_stages.overscan import OverscanSettings
from lco_stages.photon_transfer import PhotonTransferSettings, measure_photon_transfer
from lco_stages.qc import QcSettings
from lco_stages.recipes import Calibrations, bias_recipe, dark_recipe, flat_recipe, recipe_for, science_recipe
from lco_stages.settings import DECLARATIONS, DEFAULT_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
RUN = ["--min-frames", "3", "--workers", "1", "--quiet", "--offline"]


def _usage_error(capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    """Run the command line, expecting a usage error: exit 2 and one line on stderr."""
    assert main(list(arguments)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# -- the declarations -----------------------------------------------------------------------


def test_every_stage_declares_its_parameters_once_with_meaning_and_range() -> None:
    sections = [d.section for d in DECLARATIONS]
    assert len(set(sections)) == len(sections)
    keys = [p.key for p in DEFAULT_SETTINGS.parameters()]
    assert len(set(keys)) == len(keys)
    # The stages a user steers, in the order they run.
    assert sections == [
        "quality", "overscan", "photon_transfer", "bias", "flat", "qc", "stack", "bpm", "cosmic", "sources",
        "astrometry", "photometry", "coadd",
    ]  # fmt: skip
    for declaration in DECLARATIONS:
        assert declaration.stage
        assert declaration.summary().startswith(declaration.stage.split(",")[0])
        assert declaration.parameters(), declaration
        for parameter in declaration.parameters():
            assert parameter.description
            assert parameter.section == declaration.section
            assert parameter.check(parameter.default) == parameter.default
            assert isinstance(getattr(declaration(), parameter.name), type(parameter.default))


def test_a_record_refuses_a_wrong_type_or_a_value_out_of_range() -> None:
    stack = StackSettings
    with pytest.raises(InvalidSettingError, match=r"stack\.nsigma = 0\.0: must be > 0"):
        stack(nsigma=0.0)
    with pytest.raises(InvalidSettingError, match=r"stack\.maxiters = 2\.5: not a whole number"):
        stack(maxiters=2.5)  # type: ignore[arg-type]  # the wrong type is the point
    with pytest.raises(InvalidSettingError, match="not true or false"):
        DEFAULT_SETTINGS.updated({"astrometry.allow_mirror": 1})
    with pytest.raises(InvalidSettingError, match="must be within"):
        DEFAULT_SETTINGS.updated({"astrometry.radius_arcmin": 601})
    # An int serves for a float, and the record holds the float.
    assert stack(nsigma=4).nsigma == 4.0
    assert isinstance(stack(nsigma=4).nsigma, float)


def test_settings_pickle_and_travel_in_a_worker_task() -> None:
    settings = DEFAULT_SETTINGS.updated({"cosmic.sigclip": 8.0, "stack.nsigma": 2.5})
    assert pickle.loads(pickle.dumps(settings)) == settings
    task = ScienceTask("a.fits", "out", "b", "d", "f", None, settings=settings)
    assert pickle.loads(pickle.dumps(task)).settings.value("cosmic.sigclip") == 8.0


# -- -p, the TOML file, precedence ------------------------------------------------------------


def test_p_values_take_the_declared_type() -> None:
    assert parse_assignment("cosmic.sigclip=6", DEFAULT_SETTINGS) == ("cosmic.sigclip", 6.0)
    assert parse_assignment("sources.minarea= 7", DEFAULT_SETTINGS) == ("sources.minarea", 7)
    assert parse_assignment("astrometry.allow_mirror=no", DEFAULT_SETTINGS) == (
        "astrometry.allow_mirror",
        False,
    )
    assert parse_assignment("photometry.colour_term=TRUE", DEFAULT_SETTINGS)[1] is True
    assert parse_assignment("overscan.method=rows", DEFAULT_SETTINGS) == ("overscan.method", "rows")
    assert parse_assignment("stack.nsigma=1e1", DEFAULT_SETTINGS) == ("stack.nsigma", 10.0)


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("cosmic.sigclip=abc", "-p cosmic.sigclip=abc: not a number"),
        ("stack.min_frames=2.5", "-p stack.min_frames=2.5: not a whole number"),
        ("stack.min_frames=0", "-p stack.min_frames=0: must be >= 1"),
        ("cosmic.sigclip=-1", "-p cosmic.sigclip=-1: must be > 0"),
        ("cosmic.sigclip=nan", "-p cosmic.sigclip=nan: not a finite number"),
        ("astrometry.scale_tolerance=0.9", "-p astrometry.scale_tolerance=0.9: must be within [0, 0.5]"),
        ("overscan.method=median", "-p overscan.method=median: must be one of mean, rows"),
        ("astrometry.allow_mirror=maybe", "-p astrometry.allow_mirror=maybe: not true or false"),
        (
            "cosmic.sigclp=5",
            "-p cosmic.sigclp=5: unknown setting 'cosmic.sigclp' (did you mean cosmic.sigclip?)",
        ),
        ("sigclip=5", "-p sigclip=5: unknown setting 'sigclip' (did you mean cosmic.sigclip?)"),
        ("cosmic.sigclip", "-p cosmic.sigclip: expected SECTION.NAME=VALUE"),
    ],
)
def test_a_bad_p_is_one_usage_line_naming_the_setting(
    capsys: pytest.CaptureFixture[str], assignment: str, message: str
) -> None:
    line = _usage_error(capsys, "config", "show", "-p", assignment)
    assert line.startswith(f"lco-reduce: {message}")


def test_a_bad_config_file_is_one_usage_line_naming_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    night = tmp_path / "night.toml"
    for text, message in (
        ("[cosmic]\nsigclp = 5\n", "unknown setting 'cosmic.sigclp' (did you mean cosmic.sigclip?)"),
        ('[cosmic]\nsigclip = "abc"\n', "cosmic.sigclip = 'abc': not a number"),
        ("[stack]\nmin_frames = 0\n", "stack.min_frames = 0: must be >= 1"),
        ("[stack]\nnsigma = true\n", "stack.nsigma = True: not a number"),
        ("nsigma = 3\n", "unknown setting 'nsigma'"),
        ("[stack\nnsigma = 3\n", "not valid TOML"),
    ):
        night.write_text(text)
        line = _usage_error(capsys, "config", "show", "--config", str(night))
        assert line.startswith(f"lco-reduce: {night}: {message}"), line
    night.write_bytes(b"\xff\xfe\x00garbage")
    assert "not a text file" in _usage_error(capsys, "config", "show", "--config", str(night))
    missing = tmp_path / "none.toml"
    line = _usage_error(capsys, "config", "show", "--config", str(missing))
    assert line == f"lco-reduce: {missing}: cannot be read: No such file or directory"


def test_defaults_then_file_then_command_line(tmp_path: Path) -> None:
    night = tmp_path / "night.toml"
    night.write_text("[cosmic]\nsigclip = 7\n\n[stack]\nnsigma = 2.5\nmaxiters = 2\n")
    chosen = choose_settings(
        night, ["cosmic.sigclip=9", "sources.threshold=4"], {"stack.maxiters": ("--some-alias", 3)}
    )
    settings = chosen.settings
    assert settings.value("cosmic.sigclip") == 9.0  # -p beats the file
    assert settings.value("stack.nsigma") == 2.5  # the file beats the default
    assert settings.value("stack.maxiters") == 3  # an option that is a setting beats the file too
    assert settings.value("sources.threshold") == 4.0
    assert settings.value("sources.minarea") == DEFAULT_SETTINGS.value("sources.minarea")
    assert chosen.source("cosmic.sigclip") == COMMAND_LINE
    assert chosen.source("stack.nsigma") == f"file {night}"
    assert chosen.source("stack.maxiters") == COMMAND_LINE
    assert chosen.source("sources.minarea") == "default"


def test_an_alias_and_a_p_that_disagree_are_refused() -> None:
    agreed = choose_settings(None, ["stack.min_frames=3"], {"stack.min_frames": ("--min-frames", 3)})
    assert agreed.settings.value("stack.min_frames") == 3
    with pytest.raises(
        SettingsError, match=r"--min-frames and -p stack\.min_frames=4 give stack\.min_frames"
    ):
        choose_settings(None, ["stack.min_frames=4"], {"stack.min_frames": ("--min-frames", 3)})


# -- config show ----------------------------------------------------------------------------


def _shown(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[dict[str, Any], dict[str, str]]:
    """`config show`'s output as TOML, and each setting's source from its comment."""
    assert main(["config", "show", *arguments]) == 0
    text = capsys.readouterr().out
    sources: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line[1 : line.index("]")]
        elif line and not line.startswith("#"):
            name = line.split("=")[0].strip()
            sources[f"{section}.{name}"] = line.rsplit("# ", 1)[1]
    return tomllib.loads(text), sources


def test_config_show_lists_every_setting_with_its_source_and_reads_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    night = tmp_path / "night.toml"
    night.write_text("[stack]\nnsigma = 2.5\n")
    values, sources = _shown(capsys, "--config", str(night), "-p", "cosmic.sigclip=6")
    expected = DEFAULT_SETTINGS.updated({"stack.nsigma": 2.5, "cosmic.sigclip": 6.0})
    assert values == expected.as_dict()
    assert set(sources) == {p.key for p in DEFAULT_SETTINGS.parameters()}
    assert sources["stack.nsigma"] == f"file {night}"
    assert sources["cosmic.sigclip"] == "command line"
    assert {s for k, s in sources.items() if k not in ("stack.nsigma", "cosmic.sigclip")} == {"default"}
    # Each setting's comment gives its description, type, unit and default.
    main(["config", "show"])
    text = capsys.readouterr().out
    for parameter in DEFAULT_SETTINGS.parameters():
        assert f"# {parameter.name}: {parameter.description} [{parameter.kind}" in text
        assert f"default {json.dumps(parameter.default)}" in text.replace("default true", "default true")
    # The output is a configuration file: read back, it gives the same settings.
    saved = tmp_path / "saved.toml"
    saved.write_text(format_settings(choose_settings(night, ["cosmic.sigclip=6"])))
    assert choose_settings(saved).settings == expected


def test_the_settings_page_lists_every_declared_setting() -> None:
    page = (ROOT / "docs" / "settings.rst").read_text()
    assert "settings_table(DEFAULT_SETTINGS)" in page  # the table is made from the declarations
    table = settings_table(DEFAULT_SETTINGS)
    for parameter in DEFAULT_SETTINGS.parameters():
        assert f"``{parameter.key}``" in table
    assert "settings" in (ROOT / "docs" / "index.rst").read_text()


# -- recorded = applied -----------------------------------------------------------------------


def _moved(parameter: Parameter) -> SettingValue:
    """A valid value other than the default (down where the range allows, else up)."""
    default = parameter.default
    if isinstance(default, bool):
        return not default
    if isinstance(default, str):
        return next(c for c in parameter.choices if c != default)
    candidates: list[float] = (
        [default - 1, default + 1] if isinstance(default, int) else [default * 0.8, default * 1.2, 0.5]
    )
    for value in candidates:
        try:
            moved = parameter.check(int(value) if isinstance(default, int) else value)
        except InvalidSettingError:
            continue
        if moved != default:
            return moved
    raise AssertionError(f"no other valid value for {parameter.key}")


#: Every setting off its default: what the stages are run with below.
MOVED = DEFAULT_SETTINGS.updated({p.key: _moved(p) for p in DEFAULT_SETTINGS.parameters()})
#: What each recorded stage name applies: its own declaration; masters record the stack's and the
#: quality control's, the applied mask the thresholds it was made with.
APPLIES: dict[str, tuple[type[StageSettings], ...]] = {
    **{d.stage: (d,) for d in DECLARATIONS if d not in (StackSettings, QcSettings)},
    **{f"make_master_{kind}": (StackSettings, QcSettings) for kind in ("bias", "dark", "skyflat")},
    "apply_bad_pixel_mask": (BadPixelSettings,),
}


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    """One SBIG camera, 256 x 256 binned pixels, 4 of each calibration, a field of 19 stars."""
    sim = sbig(size=256)
    return simulate_night(
        tmp_path_factory.mktemp("raw") / "kb99", sim, n_bias=4, n_dark=4, n_flat=4, n_science=1, seed=2,
        science_exptime=300.0, field=make_field(sim, seed=2, stars_per_square_degree=40000), compress=False,
    )  # fmt: skip


def _histories(night: Night, settings: Settings) -> Iterator[tuple[str, tuple[ProcessingStep, ...]]]:
    """The histories of the masters and of a science product made with ``settings``."""
    stack, qc = settings.of(StackSettings), settings.of(QcSettings)
    biases = reduce(night.paths_of(ObsType.BIAS), lambda c: bias_recipe(c, settings=settings))
    bias = make_master_bias(biases, settings=stack, qc=qc).master
    darks = reduce(
        night.paths_of(ObsType.DARK), lambda c: dark_recipe(c, Calibrations(bias=bias), settings=settings)
    )
    dark = make_master_dark(darks, settings=stack, qc=qc, bias=bias).master
    flats = reduce(
        night.paths_of(ObsType.SKYFLAT),
        lambda c: flat_recipe(c, Calibrations(bias=bias, dark=dark), settings=settings),
    )
    flat = make_master_flat(flats, settings=stack, qc=qc, bias=bias, dark=dark).master
    bpm = make_bad_pixel_mask(
        dark=dark, flat=flat, filename="bpm.fits", settings=settings.of(BadPixelSettings)
    )
    frame, camera = load(night.paths_of(ObsType.EXPOSE)[0])
    reduced = science_recipe(
        camera, Calibrations(bias, dark, flat, bpm), reference=read_reference_file(night.catalog_path),
        pixel_scale=night.sim.pixel_scale, settings=settings,
    )(frame)  # fmt: skip
    for master in (bias, dark, flat):
        yield master.filename, master.frame.history
    yield frame.meta.filename, reduced.history
    yield "coadd", coadd([frame_source(reduced)], settings=settings.of(CoaddSettings)).history
    (b1, _), (b2, _), (f1, camera), (f2, _) = (
        load(path) for path in (*night.paths_of(ObsType.BIAS)[:2], *night.paths_of(ObsType.SKYFLAT)[:2])
    )
    transfer = settings.of(PhotonTransferSettings)
    measured = measure_photon_transfer(
        (b1, b2), (f1, f2), camera, transfer, overscan=settings.of(OverscanSettings)
    )
    yield "photon transfer", (measured.step(transfer),)


def test_each_recorded_parameter_equals_the_one_applied(night: Night) -> None:
    seen: set[type[StageSettings]] = set()
    for name, history in _histories(night, MOVED):
        for step in history:
            for declaration in APPLIES.get(step.stage, ()):
                seen.add(declaration)
                for parameter in declaration.parameters():
                    recorded = step.parameters.get(parameter.name)
                    assert recorded == MOVED.value(parameter.key), (name, step.stage, parameter.key)
                    assert recorded != parameter.default
    assert seen == set(DECLARATIONS)  # every declared stage ran and recorded its settings


def test_a_cosmic_ray_threshold_steers_the_mask_and_the_record(night: Night) -> None:
    frame, camera = load(night.paths_of(ObsType.EXPOSE)[0])
    calibrated = recipe_for(ObsType.EXPOSE, camera, Calibrations(*_default_masters(night)))(frame)
    # The simulator's own cosmic rays, many more than a small frame collects, with their truth.
    rays = cosmic_rays(calibrated.shape, exptime=300.0, rng=7, rate_per_cm2_s=5.0)
    assert len(rays.tracks) >= 10
    hit = attrs.evolve(calibrated, data=calibrated.data + rays.image)
    flagged: dict[float, npt.NDArray[np.bool_]] = {}
    for sigclip in (5.0, 1000.0):
        masked = mask_cosmic_rays(camera, CosmicRaySettings(sigclip=sigclip))(hit)
        assert masked.history[-1].parameters["sigclip"] == sigclip
        flagged[sigclip] = (masked.mask & MaskBit.COSMIC) > 0
    near = rays.mask | np.roll(rays.mask, 1, 0) | np.roll(rays.mask, -1, 0)
    near |= np.roll(near, 1, 1) | np.roll(near, -1, 1)
    strong = rays.image > 10 * calibrated.uncertainty  # a hit no noise could mimic
    # Measured: 83% of the 754 strong hit pixels flagged, every flagged pixel on or beside a hit.
    assert flagged[5.0][strong].mean() > 0.75  # the default finds the injected hits
    assert near[flagged[5.0]].mean() > 0.95  # and little else
    assert not flagged[1000.0].any()  # an absurd threshold finds none


def _default_masters(night: Night) -> tuple[Master, Master, Master]:
    biases = reduce(night.paths_of(ObsType.BIAS), bias_recipe)
    bias = make_master_bias(biases, settings=StackSettings(min_frames=3)).master
    darks = reduce(night.paths_of(ObsType.DARK), lambda c: dark_recipe(c, Calibrations(bias=bias)))
    dark = make_master_dark(darks, settings=StackSettings(min_frames=3), bias=bias).master
    flats = reduce(
        night.paths_of(ObsType.SKYFLAT), lambda c: flat_recipe(c, Calibrations(bias=bias, dark=dark))
    )
    flat = make_master_flat(flats, settings=StackSettings(min_frames=3), bias=bias, dark=dark).master
    return bias, dark, flat


def test_stack_nsigma_and_maxiters_are_the_ones_applied() -> None:
    """A known answer per threshold: at one pixel the frames read 10, 10.1, 9.9, 10, 14; robust
    sigma 1.4826 x MAD = 0.148, so 3 sigma rejects the 14 (mean 10.0) and 100 sigma keeps it (10.8)."""
    values = [10.0, 10.1, 9.9, 10.0, 14.0]
    frames = [_bias_frame(value, n) for n, value in enumerate(values)]
    for nsigma, expected in ((3.0, 10.0), (100.0, 10.8)):
        result = make_master_bias(frames, settings=StackSettings(nsigma=nsigma, maxiters=2))
        step = result.master.frame.history[-1]
        assert step.stage == "make_master_bias"
        assert (step.parameters["nsigma"], step.parameters["maxiters"]) == (nsigma, 2)
        np.testing.assert_allclose(result.master.frame.data[1, 2], expected, rtol=1e-6)


def _bias_frame(value: float, number: int) -> Frame:
    import datetime as dt

    from lco_core import Binning

    meta = FrameMeta(
        filename=f"lsc1m005-fa99-20260101-{number:04d}-b00.fits", obstype=ObsType.BIAS, site="lsc",
        telescope="1m0-05", camera="fa99", day_obs=dt.date(2026, 1, 1),
        date_obs=dt.datetime(2026, 1, 1, 12, number, tzinfo=dt.UTC), exptime=0.0, binning=Binning(1, 1),
        nsubread=1, filter=None,
    )  # fmt: skip
    data = np.full((4, 4), 10.0, dtype=np.float32)
    data[1, 2] = value
    frame = Frame(
        data=data, mask=np.zeros((4, 4), np.uint8), uncertainty=np.full((4, 4), 0.1, np.float32), meta=meta
    )
    return frame.with_step(ProcessingStep("subtract_bias_level", {}, {"BIASLVL": 0.0}))


# -- a run ----------------------------------------------------------------------------------


def test_a_run_records_its_settings_and_applies_them(night: Night, tmp_path: Path) -> None:
    config = tmp_path / "night.toml"
    config.write_text("[stack]\nnsigma = 2.5\nmaxiters = 2\n\n[cosmic]\nsigclip = 7\n")
    raw, catalog = str(night.folder), ["--catalog", str(night.catalog_path)]
    default, steered = tmp_path / "default", tmp_path / "steered"
    assert main(["run", raw, "--out", str(default), *RUN, *catalog]) == 0
    steer = ["--config", str(config), "-p", "cosmic.sigclip=1000", "-p", "sources.threshold=1e6"]
    assert main(["run", raw, "--out", str(steered), *RUN, *catalog, *steer]) == 0
    options = json.loads((steered / "summary.json").read_text())["options"]
    assert options["settings"]["cosmic"]["sigclip"] == 1000.0
    assert options["settings"]["stack"] == {
        "nsigma": 2.5,
        "maxiters": 2,
        "min_frames": 3,
        "low_flat_level": 0.2,
    }
    assert options["settings_from"] == {
        "cosmic.sigclip": "command line", "sources.threshold": "command line",
        "stack.nsigma": f"file {config}", "stack.maxiters": f"file {config}",
        "stack.min_frames": "command line",
    }  # fmt: skip
    baseline = json.loads((default / "summary.json").read_text())["options"]
    assert baseline["settings"] == DEFAULT_SETTINGS.updated({"stack.min_frames": 3}).as_dict()
    sources = {}
    for out in (default, steered):
        (product,) = out.glob("*-e91.fits.fz")
        frame = read_product(product).frame
        assert frame.sources is not None
        sources[out] = len(frame.sources)
        recorded = frame.steps("mask_cosmic_rays")[-1].parameters["sigclip"]
        assert recorded == (1000.0 if out == steered else 5.0)
        recorded = frame.steps("detect_sources")[-1].parameters["threshold"]
        assert recorded == (1e6 if out == steered else 3.0)
        master = read_master(next((out / "masters").glob("*-bias*.fits*")))
        step = master.frame.history[-1]
        stacked = (step.parameters["nsigma"], step.parameters["maxiters"])
        assert stacked == ((2.5, 2) if out == steered else (3.0, 1))
    assert sources[default] >= 5  # the field's stars
    assert sources[steered] == 0  # nothing is a million sigma above the sky


def test_unknown_setting_stops_a_run_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], night: Night, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    line = _usage_error(capsys, "run", str(night.folder), "--out", str(out), *RUN, "-p", "stack.nsgima=2")
    assert "unknown setting 'stack.nsgima' (did you mean stack.nsigma?)" in line
    assert not out.exists()
    with pytest.raises(UnknownSettingError):
        DEFAULT_SETTINGS.value("stack.nsgima")
