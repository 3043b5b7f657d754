"""Counters every judge backend keeps: the chat client's counters (:class:`~medix_r1.chat.stats.ChatStats`)."""

from __future__ import annotations

from medix_r1.chat.stats import ChatStats as JudgeStats

__all__ = ["JudgeStats"]
