"""MediX-R1 data: the record schema, readers and writers, converters, checks and the sample set.

Importing is cheap: pydicom, datasets, pyarrow, scikit-image and nibabel load only inside the
functions that need them.

Main entry points:

- :class:`MedixRecord`, :func:`check_record` (schema); :func:`load_records`, :func:`write_records`,
  :func:`iter_rows` (JSONL / JSON / parquet / ``save_to_disk`` folders / hub ids)
- :func:`convert_rows` (VQA-RAD, SLAKE, PathVQA, PMC-VQA rows), :func:`from_dicom_folder`
- :func:`dicom_to_image` (DICOM path or bytes -> PIL image), :func:`dicom_info`
- :func:`validate_file`, :func:`dataset_stats`, :func:`find_contamination`
- :func:`build_samples`, :func:`ensure_samples` (the bundled sample set)
"""

from medix_r1.data.contamination import ContaminationReport, find_contamination, normalize_question
from medix_r1.data.converters import LAYOUTS, DicomFolderResult, convert_rows, from_dicom_folder
from medix_r1.data.dicom import DicomDecodeError, DicomInfo, dicom_info, dicom_to_array, dicom_to_image
from medix_r1.data.images import DEFAULT_MAX_IMAGE_PIXELS, ImageProblem, open_image, resolve_image_path
from medix_r1.data.io import DataSourceError, data_root, detect_format, iter_rows, load_records, write_records
from medix_r1.data.prompt_length import PromptCounter, load_prompt_counter
from medix_r1.data.samples import SAMPLE_SOURCES, SampleSetInfo, build_samples, ensure_samples
from medix_r1.data.schema import (
    IMAGE_PLACEHOLDER,
    MedixRecord,
    RecordError,
    check_record,
    make_problem,
    make_solution,
)
from medix_r1.data.stats import DatasetStats, dataset_stats
from medix_r1.data.validate import Problem, ValidationReport, validate_file

__all__ = [
    "ContaminationReport",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "DataSourceError",
    "DatasetStats",
    "DicomDecodeError",
    "DicomFolderResult",
    "DicomInfo",
    "IMAGE_PLACEHOLDER",
    "ImageProblem",
    "LAYOUTS",
    "MedixRecord",
    "Problem",
    "PromptCounter",
    "RecordError",
    "SAMPLE_SOURCES",
    "SampleSetInfo",
    "ValidationReport",
    "build_samples",
    "check_record",
    "convert_rows",
    "data_root",
    "dataset_stats",
    "detect_format",
    "dicom_info",
    "dicom_to_array",
    "dicom_to_image",
    "ensure_samples",
    "find_contamination",
    "from_dicom_folder",
    "iter_rows",
    "load_prompt_counter",
    "load_records",
    "make_problem",
    "make_solution",
    "normalize_question",
    "open_image",
    "resolve_image_path",
    "validate_file",
    "write_records",
]
