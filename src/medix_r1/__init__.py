"""medix-r1: teach medical vision-language models to reason and answer in free text with RL.

Importing the package is cheap: models, clients and hub look-ups are created only when asked for.
"""

from medix_r1.modality import MODALITIES, MODALITY_TAGS, Modality, modality_from_dicom, resolve_modality
from medix_r1.parsing import THINK, THINKING, ParsedResponse, ResponseFormat, parse_response

__version__ = "0.1.0"

__all__ = [
    "MODALITIES",
    "MODALITY_TAGS",
    "Modality",
    "modality_from_dicom",
    "resolve_modality",
    "THINK",
    "THINKING",
    "ParsedResponse",
    "ResponseFormat",
    "parse_response",
    "__version__",
]
