"""The report's gain and read-noise section: each camera set-up's photon transfer against its header."""

from __future__ import annotations

import html

from lco_cli.night import NightResult, TransferRecord
from lco_cli.results import one_line

#: The style of a figure beyond ``photon_transfer.max_difference`` (the report's own 'degraded').
WARNING_CLASS = "degraded"


def _cell(text: str, *, warn: bool = False) -> str:
    style = f" class='{WARNING_CLASS}'" if warn else ""
    return f"<td{style}>{html.escape(text)}</td>"


def _table(record: TransferRecord) -> str:
    transfer = record.transfer
    title = html.escape(one_line(f"{record.camera} {record.binning} {record.configuration_mode}"))
    if transfer is None:
        return f"<h3>{title}</h3><p class='note'>{html.escape(one_line(record.note))}</p>"
    limit = transfer.max_difference
    rows = []
    for amp in transfer.amplifiers:
        gain_off = abs(amp.gain_difference) > limit
        noise_off = abs(amp.read_noise_difference) > limit
        rows.append(
            "<tr>"
            + _cell(str(amp.amplifier), warn=gain_off or noise_off)
            + _cell(f"{amp.gain:.3f} ± {amp.gain_error:.3f}")
            + _cell(f"{amp.header_gain:.3f}")
            + _cell(f"{amp.gain_difference:+.1%}", warn=gain_off)
            + _cell(f"{amp.read_noise:.2f} ± {amp.read_noise_error:.2f}")
            + _cell(f"{amp.header_read_noise:.2f}")
            + _cell(f"{amp.read_noise_difference:+.1%}", warn=noise_off)
            + _cell(str(amp.pixels))
            + "</tr>"
        )
    warnings = "".join(
        f"<li class='{WARNING_CLASS}'>{html.escape(one_line(w))}</li>" for w in transfer.warnings
    )
    frames = ", ".join((*transfer.biases, *transfer.flats))
    used = "; the night's frames were calibrated with the measured values" if record.used else ""
    return (
        f"<h3>{title}</h3><table><tr><th>amplifier</th><th>gain (e-/ADU)</th><th>header</th>"
        "<th>header - measured</th><th>read noise (e-)</th><th>header</th><th>header - measured</th>"
        "<th>pixels</th></tr>"
        + "".join(rows)
        + "</table>"
        + (f"<ul>{warnings}</ul>" if warnings else "")
        + f"<p>from {html.escape(one_line(frames))} (filter {html.escape(one_line(transfer.filter))}); "
        f"differences relative to the measured value, limit {limit:.0%}{used}</p>"
    )


def photon_transfer_section(result: NightResult) -> str:
    """The night's gain and read noise per camera set-up and amplifier, measured vs header ('' for none).

    Parameters
    ----------
    result : NightResult
        The run (its ``photon_transfer`` records).

    Returns
    -------
    str
        An HTML section: one table per set-up (measured gain and read noise with their errors, the
        header's, the relative differences, pixels used), differences beyond
        ``photon_transfer.max_difference`` and their warnings highlighted, and a note for a
        set-up that could not be measured.
    """
    records = result.photon_transfer
    if not records:
        return ""
    return (
        "<h2>Gain and read noise (photon transfer)</h2>"
        + "".join(_table(record) for record in records)
        + "<p>Janesick's pair method on each amplifier's central region: two biases and the two sky "
        "flats of one filter closest in level</p>"
    )
