"""Peak resident memory of this process over a block of code (Linux /proc, no sampling thread)."""

from __future__ import annotations

from pathlib import Path

MIB = 1024 * 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def resident_bytes() -> int:
    return _status_kib("VmRSS") * 1024


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (writing 5 to clear_refs, Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_bytes() -> int:
    return _status_kib("VmHWM") * 1024
