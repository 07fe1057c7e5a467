"""Issue 11, header sanity: corrupt cards, absurd values and long master names give one-line typed errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lco_core.errors import FitsReadError, LcoError, MalformedKeywordError
from lco_core.header import Header, HeaderCard
from lco_core.io.meta import parse_frame_meta
from lco_core.io.raw import read_headers, read_meta, read_raw
from lco_core.master import MasterKind, master_filename

READERS = (read_headers, read_raw, read_meta)

#: The mandatory keywords of a frame, as FITS card values (strings quoted, numbers free-format).
MANDATORY = {
    "INSTRUME": "'fa99    '",
    "OBSTYPE": "'EXPOSE  '",
    "SITEID": "'cpt     '",
    "TELESCOP": "'1m0-10  '",
    "DATE-OBS": "'2026-01-01T22:00:00.000'",
    "DAY-OBS": "'20260101'",
    "EXPTIME": "30.0",
    "CCDSUM": "'1 1     '",
}


def _card(keyword: str, value: str) -> bytes:
    """One 80-byte card in the FITS standard's fixed format: a string from column 11, any other
    value right-justified to column 30 (as SIMPLE, BITPIX and NAXIS must be)."""
    text = value if value.startswith("'") else f"{value:>20}"
    return f"{keyword:<8}= {text}".encode("latin-1").ljust(80, b" ")


def _fits_bytes(cards: list[bytes], *, primary: bool = True) -> bytes:
    """An HDU by hand: an 8x8 int16 image whose header holds ``cards``, padded to 2880-byte blocks."""
    head = [_card("SIMPLE", "T") if primary else _card("XTENSION", "'IMAGE   '")]
    head += [_card("BITPIX", "16"), _card("NAXIS", "2"), _card("NAXIS1", "8"), _card("NAXIS2", "8")]
    if not primary:
        head += [_card("PCOUNT", "0"), _card("GCOUNT", "1")]
    text = b"".join(head + cards) + b"END".ljust(80, b" ")
    text += b" " * (-len(text) % 2880)
    data = bytes(8 * 8 * 2)
    return text + data + bytes(-len(data) % 2880)


def _frame(path: Path, *extra: bytes, **replaced: str) -> Path:
    """A frame whose primary header holds the mandatory cards (some replaced) and ``extra``."""
    values = {**MANDATORY, **replaced}
    path.write_bytes(_fits_bytes([_card(key, value) for key, value in values.items()] + list(extra)))
    return path


def _assert_one_line(error: LcoError, path: Path, *words: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message


# Item 1: unparsable cards.


@pytest.mark.parametrize(
    ("card", "keyword", "reason"),
    [
        (b"OBJECT  = 'abc".ljust(80), "OBJECT", "unclosed quote"),
        (b"OBJECT  = 'ab\x01c'".ljust(80), "OBJECT", "control character 0x01"),
        (b"RDNOISE =                  NaN".ljust(80), "RDNOISE", "RDNOISE"),
        (b"GAIN    =               12.3.4".ljust(80), "GAIN", "12.3.4"),
        (b"XYZZY   = 'never read".ljust(80), "XYZZY", "unclosed quote"),
    ],
)
def test_unparsable_card_is_a_typed_error_naming_file_and_card(
    tmp_path: Path, card: bytes, keyword: str, reason: str
) -> None:
    """Item 1 (unparsable cards): astropy raises VerifyError on `.value` of such a card; every
    reader turns it into one line naming the file and the card, whether or not the card is read."""
    path = _frame(tmp_path / "x.fits", card)
    for reader in READERS:
        with pytest.raises(MalformedKeywordError) as caught:
            reader(path)
        assert caught.value.keyword == keyword
        _assert_one_line(caught.value, path, keyword, reason)


def test_unparsable_card_in_an_extension(tmp_path: Path) -> None:
    """Item 1 (unparsable cards): a corrupt card in a multi-extension file's image extension."""
    primary = [_card(key, value) for key, value in MANDATORY.items()]
    extension = [_card("EXTNAME", "'SCI     '"), _card("DATASEC", "'[1:8,1:8")]
    path = tmp_path / "mef.fits"
    path.write_bytes(
        _fits_bytes(primary)[:2880].replace(_card("NAXIS", "2"), _card("NAXIS", "0"))
        + _fits_bytes(extension, primary=False)
    )
    for reader in (read_headers, read_raw):
        with pytest.raises(MalformedKeywordError) as caught:
            reader(path)
        assert (caught.value.hdu, caught.value.keyword) == ("SCI", "DATASEC")
        _assert_one_line(caught.value, path, "DATASEC", "unclosed quote")


def test_unparsable_card_in_a_compressed_file(tmp_path: Path) -> None:
    """Item 1 (unparsable cards): fpack moves the frame's cards into a binary table's header."""
    header = fits.Header(
        [(key, fits.Card.fromstring(_card(key, value).decode()).value) for key, value in MANDATORY.items()]
    )
    header["OBJECT"] = "abcdefgh"
    path = tmp_path / "x.fits.fz"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.zeros((8, 8), np.float32), header)]).writeto(path)
    content = path.read_bytes()
    assert content.count(b"OBJECT  = 'abcdefgh'") == 1
    path.write_bytes(content.replace(b"OBJECT  = 'abcdefgh'", b"OBJECT  = 'abcdefgh "))
    for reader in READERS:
        with pytest.raises(MalformedKeywordError) as caught:
            reader(path)
        _assert_one_line(caught.value, path, "OBJECT", "unclosed quote")


def test_unparsable_structural_card_names_it(tmp_path: Path) -> None:
    """Item 1 (unparsable cards): a BSCALE astropy needs in order to open the file at all."""
    path = _frame(tmp_path / "x.fits", _card("BSCALE", "12.3.4"))
    for reader in READERS:
        with pytest.raises(FitsReadError) as caught:
            reader(path)
        _assert_one_line(caught.value, path, "BSCALE")


def test_unparsable_extname_is_reported_by_index(tmp_path: Path) -> None:
    """Item 1 (unparsable cards): EXTNAME names the HDU in messages, so it is not used to name itself."""
    path = _frame(tmp_path / "x.fits", _card("EXTNAME", "'SCI"))
    for reader in READERS:
        with pytest.raises(MalformedKeywordError) as caught:
            reader(path)
        assert (caught.value.hdu, caught.value.keyword) == ("0", "EXTNAME")
        _assert_one_line(caught.value, path, "EXTNAME", "unclosed quote")


# Items 6 and 7 and the smaller absurd values: sane ranges. Each case gives a value inside the
# stated range (accepted) and one outside (refused with the range in the message).


@pytest.mark.parametrize(
    ("keyword", "inside", "outside", "bound"),
    [
        ("EXPTIME", "100000.0", "1.0E30", "100000"),
        ("GAIN", "0.01", "1.0E-30", "0.01"),
        ("GAIN", "'[2.0,100.0,2.0,2.0]'", "'[2.0,1e-30,2.0,2.0]'", "0.01"),
        ("RDNOISE", "1000.0", "1.0E4", "1000"),
        ("SATURATE", "1.0E7", "1.0E8", "1e+07"),
        ("MAXLIN", "65535.0", "1.0E8", "1e+07"),
        ("NSUBREAD", "1000", "1000000000", "1000"),
        ("RA", "'23:59:59.9'", "'-01:00:00.0'", "360"),
        ("RA", "359.9", "1.0E308", "360"),
        ("DEC", "-90.0", "1.0E308", "90"),
        ("DEC", "'+90:00:00'", "'-91:00:00'", "-90"),
        ("PIXSCALE", "100.0", "1.0E308", "100"),
        ("CCDSTEMP", "-200.0", "-300.0", "-200"),
        ("CCDATEMP", "100.0", "500.0", "100"),
        ("DATE-OBS", "'1990-01-01T00:00:00'", "'0001-01-01T00:00:00'", "1990"),
        ("DATE-OBS", "'2100-12-31T23:59:59'", "'9999-12-31T23:59:59'", "2100"),
        ("DAY-OBS", "'19900101'", "'00010101'", "1990"),
        ("DAY-OBS", "'21001231'", "'99991231'", "2100"),
    ],
)
def test_absurd_value_is_refused_with_its_range(
    tmp_path: Path, keyword: str, inside: str, outside: str, bound: str
) -> None:
    """Items 6 (dates 0001/9999), 7 (DEC/PIXSCALE 1e308) and the smaller absurd values (EXPTIME
    1e30, GAIN 1e-30, NSUBREAD 1e9, ...): the edge of the stated range reads, beyond it is refused."""
    read_meta(_frame(tmp_path / "inside.fits", **{keyword: inside}))
    path = _frame(tmp_path / "outside.fits", **{keyword: outside})
    for reader in READERS:
        with pytest.raises(MalformedKeywordError) as caught:
            reader(path)
        assert caught.value.keyword == keyword
        _assert_one_line(caught.value, path, keyword, bound)


@pytest.mark.parametrize("keyword", ["GAIN", "RDNOISE", "SATURATE", "MAXLIN", "PIXSCALE"])
def test_not_known_stays_absent_while_absurd_is_refused(tmp_path: Path, keyword: str) -> None:
    """Smaller absurd values: 0 still means "not known" (LCO's convention) for the optional
    positive keywords, while 1e30 is refused."""
    meta = read_meta(_frame(tmp_path / "zero.fits", **{keyword: "0.0"}))
    field = {"GAIN": "gain", "RDNOISE": "read_noise", "SATURATE": "saturate", "MAXLIN": "maxlin"}
    assert getattr(meta, field.get(keyword, "pixel_scale")) is None
    with pytest.raises(MalformedKeywordError, match=keyword):
        read_meta(_frame(tmp_path / "huge.fits", **{keyword: "1.0E30"}))


def test_parse_frame_meta_refuses_absurd_values_without_a_file() -> None:
    """Smaller absurd values: the range is the parser's, not only the file reader's."""
    cards = {key: fits.Card.fromstring(_card(key, value).decode()).value for key, value in MANDATORY.items()}
    header = Header(tuple(HeaderCard(key, value) for key, value in {**cards, "EXPTIME": 1e30}.items()))
    with pytest.raises(MalformedKeywordError, match=r"^x\.fits\[0\]: EXPTIME = 1e\+30 .*100000 s$"):
        parse_frame_meta(header, path="x.fits", hdu="0")


@pytest.mark.parametrize(
    ("keyword", "value"),
    [("BSCALE", "-1.0"), ("BSCALE", "0.0"), ("BSCALE", "'2'"), ("BZERO", "1.0E400"), ("BZERO", "T")],
)
def test_absurd_scaling_of_an_image_is_refused(tmp_path: Path, keyword: str, value: str) -> None:
    """Smaller absurd values (BSCALE -1): FITS scaling must be finite, and BSCALE > 0 (a raw
    camera never inverts or erases its ADU); refused from the headers alone and by read_raw."""
    path = _frame(tmp_path / "x.fits", _card(keyword, value))
    for reader in READERS:
        with pytest.raises(MalformedKeywordError) as caught:
            reader(path)
        assert caught.value.keyword == keyword
        _assert_one_line(caught.value, path, keyword, "finite")


def test_repeated_bscale_is_checked_in_every_card(tmp_path: Path) -> None:
    """Smaller absurd values (BSCALE -1): astropy applies the last of repeated cards, so a sane
    first card must not hide an absurd second one."""
    path = _frame(tmp_path / "x.fits", _card("BSCALE", "1.0"), _card("BSCALE", "-1.0"))
    with pytest.raises(MalformedKeywordError, match=r"BSCALE = -1\.0 is not a finite number > 0"):
        read_headers(path)


# Item 5: long master file names.


def _meta(**changes: object) -> Header:
    cards = {key: fits.Card.fromstring(_card(key, value).decode()).value for key, value in MANDATORY.items()}
    cards.update(changes)
    return Header(
        tuple(HeaderCard(key, value) for key, value in cards.items() if isinstance(value, str | float))
    )


def test_master_name_of_long_filters_fits_a_file_system_and_keeps_them_apart(tmp_path: Path) -> None:
    """Item 5 (long names): a 300-character FILTER gave a name over 255 bytes (ENAMETOOLONG);
    each header part is now cut and ends in a hash of the whole value, so two long filters that
    differ only at the end still give two names, while a normal name is as before."""
    normal = parse_frame_meta(_meta(FILTER="rp"), path="x.fits", hdu="0")
    assert master_filename(normal, MasterKind.SKYFLAT) == "cpt1m010-fa99-20260101-skyflat-bin1x1-rp.fits"
    first, second = "w" * 299 + "a", "w" * 299 + "b"
    names = []
    for long_filter in (first, second):
        meta = parse_frame_meta(_meta(FILTER=long_filter), path="x.fits", hdu="0")
        name = master_filename(meta, MasterKind.SKYFLAT)
        assert len(name.encode()) < 255
        assert hashlib.sha256(long_filter.encode()).hexdigest()[:8] in name
        (tmp_path / name).write_bytes(b"")
        names.append(name)
    assert names[0] != names[1]


def test_master_name_caps_every_header_part() -> None:
    """Item 5 (long names): site, telescope and camera come from the header as well."""
    meta = parse_frame_meta(
        _meta(SITEID="s" * 300, TELESCOP="t" * 300, INSTRUME="c" * 300, FILTER="f" * 300),
        path="x.fits",
        hdu="0",
    )
    assert len(master_filename(meta, MasterKind.SKYFLAT).encode()) < 255
