"""`medix-r1 chat`'s library call: one question in the MediX layout, read by the shared parser."""

from __future__ import annotations

from medix_r1.models import ask


def test_chat_reads_a_well_formed_reply(monkeypatch):
    monkeypatch.setattr(
        "medix_r1.models.generation.generate_batch",
        lambda *a, **k: ["<CT_SCAN><thinking>Axial slice.</thinking><answer>Liver</answer>"],
    )
    reply = ask("unused", "Which organ?", loaded=(object(), object()))
    assert reply == {
        "modality": "<CT_SCAN>",
        "reasoning": "Axial slice.",
        "answer": "Liver",
        "well_formed": True,
        "raw": "<CT_SCAN><thinking>Axial slice.</thinking><answer>Liver</answer>",
    }
