"""Each quality test catches the simulator's injected fault and leaves clean frames alone (issue 15).

Small-N version of bench/quality_rates.py (the trials and their amplitudes: tests/quality_trials.py):
20 defect frames per test, 40 clean frames (biases, darks, sky flats and science frames of an SBIG
and a Sinistro). Targets of the issue: detection >= 95%, false alarms <= 1% (so none of 40).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from quality_trials import TESTS, Trial, clean_trials, defect_trials, rates

N_DEFECT = 20
N_CLEAN = 40


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> list[Trial]:
    return list(clean_trials(N_CLEAN, tmp_path_factory.mktemp("clean"), seed=11))


@pytest.mark.parametrize("test", TESTS)
def test_detection_and_false_alarm_rates_meet_the_targets(
    test: str, clean: list[Trial], tmp_path: Path
) -> None:
    found = rates(test, list(defect_trials(test, N_DEFECT, tmp_path, seed=11)), clean)
    assert found.n_defect == N_DEFECT
    assert found.detection_rate >= 0.95, found.missed
    # Every clean frame the test applies to: the pointing test runs on the science frames only,
    # the SBIG's bias level on its biases only (it has no overscan).
    assert found.n_clean >= 12
    assert found.false_alarm_rate <= 0.01, found.false


def test_the_clean_frames_pass_every_test(clean: list[Trial]) -> None:
    kinds = {(t.camera, t.obstype) for t in clean}
    assert len(kinds) == 8  # two cameras x bias, dark, flat, science
    for trial in clean:
        assert {r.verdict.value for r in trial.results.values()} == {"pass"}, trial
