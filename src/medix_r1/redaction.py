"""Redact secrets from text a server sent back before it is printed (issue 17, point 7).

Some servers echo the request's headers or key in an error body ("invalid api key sk-..."). Such a
body reaches stderr and logs through our error messages, so it is redacted first: a bearer or basic
credential, anything shaped like a known provider key (OpenAI ``sk-``, Hugging Face ``hf_``, GitHub,
Slack, AWS, Google, our reviewer tokens), ``api_key=...`` style pairs, and the exact values of keys
the caller knows (the client's own key). Whatever is removed becomes ``[redacted]``.

>>> redact('{"error": "Incorrect API key provided: sk-proj-abcdefghijklmnop1234567890"}')
'{"error": "Incorrect API key provided: [redacted]"}'
>>> redact("echo: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc")
'echo: Authorization: Bearer [redacted]'
>>> redact("api_key=hunter2hunter2&model=x")
'api_key=[redacted]&model=x'
>>> redact("your key s3cr3t-value is wrong", known=["s3cr3t-value"])
'your key [redacted] is wrong'
>>> redact("model Qwen/Qwen3-14B not found")
'model Qwen/Qwen3-14B not found'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["redact", "REDACTED"]

REDACTED = "[redacted]"

_PATTERNS: tuple[re.Pattern[str], ...] = (
    # credentials after an auth scheme: keep the scheme, drop the credential
    re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    # provider key shapes
    re.compile(r"\bsk-(?:proj-|ant-|or-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"\bmx[rs]_[A-Za-z0-9_\-]{20,}"),  # review tokens and session ids
    # key=value / "key": "value" pairs whose name says secret
    re.compile(
        r"(?i)([\"']?(?:api[_-]?key|access[_-]?token|secret|password|passwd|x-api-key|authorization)"
        r"[\"']?\s*[:=]\s*[\"']?)(?!(?:bearer|basic|token)\s)(?!\[redacted\])([^\s\"'&,;}]{4,})"
    ),
)


def redact(text: str, known: Iterable[str | None] = ()) -> str:
    """``text`` with every secret-looking part replaced by ``[redacted]`` (see the module docstring)."""
    for value in known:
        if value and len(value) >= 4:
            text = text.replace(value, REDACTED)
    for i, pattern in enumerate(_PATTERNS):
        if i == 0:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        elif pattern.groups == 2:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text
