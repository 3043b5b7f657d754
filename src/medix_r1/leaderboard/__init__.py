"""Leaderboard: merge evaluation runs into a static page and CSV, and verify submission zips."""

from medix_r1.leaderboard.build import Entry, LeaderboardError, build_leaderboard, collect_runs
from medix_r1.leaderboard.verify import UnsafeArchiveError, VerifyReport, verify_submission

__all__ = [
    "Entry",
    "LeaderboardError",
    "build_leaderboard",
    "collect_runs",
    "UnsafeArchiveError",
    "VerifyReport",
    "verify_submission",
]
