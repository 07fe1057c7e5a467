"""Every stage's settings declaration, in pipeline order: what ``-p``, ``--config`` and ``config show`` know.

Each declaration lives beside its stage (`~lco_core.parameters.StageSettings` subclasses); this
module only lists them. A stage that gains a tunable declares it with
`~lco_core.parameters.parameter` in its own record, and it is a setting everywhere at once.
"""

from __future__ import annotations

from lco_core.parameters import Settings, StageSettings
from lco_stages.bias import BiasLevelSettings
from lco_stages.bpm import BadPixelSettings
from lco_stages.coadd.settings import CoaddSettings
from lco_stages.cosmic import CosmicRaySettings
from lco_stages.flat import FlatLevelSettings
from lco_stages.masters import StackSettings
from lco_stages.overscan import OverscanSettings
from lco_stages.photon_transfer import PhotonTransferSettings
from lco_stages.qc import QcSettings
from lco_stages.quality import QualitySettings
from lco_stages.sources import SourceSettings
from lco_stages.wcs import AstrometrySearch
from lco_stages.zeropoint import PhotometrySettings

#: The declarations, in the order their stages run.
DECLARATIONS: tuple[type[StageSettings], ...] = (
    QualitySettings,
    OverscanSettings,
    PhotonTransferSettings,
    BiasLevelSettings,
    FlatLevelSettings,
    QcSettings,
    StackSettings,
    BadPixelSettings,
    CosmicRaySettings,
    SourceSettings,
    AstrometrySearch,
    PhotometrySettings,
    CoaddSettings,
)

#: Every setting at its default: the base that a configuration file and ``-p`` change.
DEFAULT_SETTINGS = Settings(tuple(declaration() for declaration in DECLARATIONS))
