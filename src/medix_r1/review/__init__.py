"""Clinician review of evaluation runs: blind pairwise studies and LLM-judge audits.

``sampling`` builds a study from run folders, ``store`` keeps it (SQLite file or PostgreSQL via
SQLAlchemy), ``tokens`` makes and checks reviewer tokens, ``app`` serves the reviewer page,
``stats`` and ``report`` turn votes into rates, intervals and agreement. Importing this package
loads no web framework, database driver or plotting library.
"""

from medix_r1.review.sampling import answer_view, judge_label, load_run, sample_judge_audit, sample_pairwise
from medix_r1.review.stats import (
    bootstrap_shares,
    cohen_kappa,
    confusion_matrix,
    fleiss_kappa,
    pairwise_outcome,
)
from medix_r1.review.store import (
    AUDIT_CHOICES,
    PAIRWISE_CHOICES,
    DuplicateVoteError,
    ReviewStore,
    StudyError,
)

__all__ = [
    "answer_view",
    "judge_label",
    "load_run",
    "sample_judge_audit",
    "sample_pairwise",
    "bootstrap_shares",
    "cohen_kappa",
    "confusion_matrix",
    "fleiss_kappa",
    "pairwise_outcome",
    "AUDIT_CHOICES",
    "PAIRWISE_CHOICES",
    "DuplicateVoteError",
    "ReviewStore",
    "StudyError",
]
