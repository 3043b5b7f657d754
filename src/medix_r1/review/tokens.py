"""Reviewer access tokens: made once, shown once, stored only as a salted hash.

A token is ``mxr_`` followed by 32 random URL-safe characters (192 bits). The store keeps
``sha256(study salt + token)``; the salt is random per study, so a token of one study never matches
a reviewer of another, and a leaked database gives no usable token. Checks compare digests in
constant time (:func:`hmac.compare_digest`) against every reviewer of the study, so the time taken
says nothing about how close a guess was.

>>> salt = new_salt()
>>> token = new_token()
>>> token.startswith("mxr_") and len(token) == 36
True
>>> digest = hash_token(token, salt)
>>> token_matches(token, salt, digest), token_matches(token + "x", salt, digest)
(True, False)
>>> token_matches(token, new_salt(), digest)  # another study's salt
False

A signed-in browser holds a session id (``mxs_`` + 43 random characters, 256 bits), never the
token: signing out deletes the session, so a copied cookie stops working. The store keeps only
``sha256(session id)``.

>>> sid = new_session_id()
>>> sid.startswith("mxs_") and len(sid) == 47 and len(session_digest(sid)) == 64
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = [
    "TOKEN_PREFIX",
    "SESSION_PREFIX",
    "new_token",
    "new_salt",
    "hash_token",
    "token_matches",
    "looks_like_token",
    "new_session_id",
    "session_digest",
]

TOKEN_PREFIX = "mxr_"
SESSION_PREFIX = "mxs_"
_TOKEN_BYTES = 24  # 32 URL-safe characters
_MAX_TOKEN_LEN = 200  # longer input is refused before hashing


def new_token() -> str:
    """A fresh reviewer token (print it once; only its hash is stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def new_salt() -> str:
    """A fresh per-study salt (hex)."""
    return secrets.token_hex(16)


def hash_token(token: str, salt: str) -> str:
    """The stored form of a token: hex sha256 of the study salt followed by the token."""
    return hashlib.sha256((salt + token).encode("utf-8")).hexdigest()


def looks_like_token(token: str | None) -> bool:
    """Cheap shape check before any hashing (missing, empty, overlong or non-ASCII input fails).

    >>> looks_like_token(None), looks_like_token(""), looks_like_token("mxr_abc"), looks_like_token("é")
    (False, False, True, False)
    """
    return bool(token) and len(token) <= _MAX_TOKEN_LEN and token.isascii() and token.isprintable()


def token_matches(token: str, salt: str, digest: str) -> bool:
    """Whether ``token`` hashes to ``digest`` under ``salt`` (constant-time comparison)."""
    return hmac.compare_digest(hash_token(token, salt).encode(), digest.encode())


def new_session_id() -> str:
    """A fresh session id for the cookie (only :func:`session_digest` of it is stored)."""
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def session_digest(session_id: str) -> str:
    """The stored form of a session id (unsalted: the id is 256 random bits, not a password)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()
