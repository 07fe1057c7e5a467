"""lco_core: records, robust statistics, stacking, pipeline composition and FITS I/O for lco-reduce."""

from lco_core.errors import (
    CameraError,
    FitsReadError,
    HeaderError,
    LcoError,
    MalformedKeywordError,
    MissingKeywordError,
    ProductWriteError,
    SectionError,
    ShapeMismatchError,
    StageError,
)
from lco_core.frame import AmplifierData, Frame
from lco_core.header import Header, HeaderCard
from lco_core.masks import MaskBit
from lco_core.meta import FrameMeta, ObsType
from lco_core.pipeline import Stage, pipeline
from lco_core.provenance import ProcessingStep
from lco_core.raw import RawFile, RawImage, SectionKeywords
from lco_core.section import Binning, Section

__all__ = [
    "AmplifierData",
    "Binning",
    "CameraError",
    "FitsReadError",
    "Frame",
    "FrameMeta",
    "Header",
    "HeaderCard",
    "HeaderError",
    "LcoError",
    "MalformedKeywordError",
    "MaskBit",
    "MissingKeywordError",
    "ObsType",
    "ProcessingStep",
    "ProductWriteError",
    "RawFile",
    "RawImage",
    "Section",
    "SectionError",
    "SectionKeywords",
    "ShapeMismatchError",
    "Stage",
    "StageError",
    "pipeline",
]
