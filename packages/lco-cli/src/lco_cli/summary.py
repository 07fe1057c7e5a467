"""summary.json: one record per input file, the masters built, and the run's totals."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from lco_cli.night import NightResult
from lco_core.atomic import atomic_output


def _clean(value: object) -> object:
    """JSON has no NaN: unmeasured figures become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def write_summary(result: NightResult, target: Path, *, options: dict[str, object]) -> Path:
    """Write ``summary.json`` atomically.

    Parameters
    ----------
    result : NightResult
        The run.
    target : pathlib.Path
        The file.
    options : dict
        The run's options, recorded as given.

    Returns
    -------
    pathlib.Path
        The file: start and end, options, wall seconds per phase, counts per status, one record
        per frame (`~lco_cli.results.FrameResult.to_json`) and one per master; NaN figures
        become null.
    """
    counts = Counter(frame.status for frame in result.frames)
    document = {
        "started": result.started.isoformat(),
        "finished": result.finished.isoformat(),
        "options": options,
        "phases_seconds": {name: round(seconds, 2) for name, seconds in result.phases.items()},
        "counts": {status: counts.get(status, 0) for status in ("ok", "failed", "skipped")},
        "frames": [frame.to_json() for frame in result.frames],
        "masters": [
            {
                "file": master.path,
                "kind": master.kind,
                "camera": master.camera,
                "inputs": list(master.inputs),
                "rejected": [{"file": name, "reason": reason} for name, reason in master.rejected],
                "figures": master.figures,
            }
            for master in result.masters
        ],
    }
    with atomic_output(target) as temporary:
        temporary.write_text(json.dumps(_clean(document), indent=1), encoding="utf-8")
    return target
