"""Study storage: SQLite by default (one file per study), PostgreSQL through the same code.

Everything goes through SQLAlchemy Core, so a study lives in ``sqlite:///STUDY.db`` or in any
``postgresql://`` database (driver installed by the user, e.g. ``pip install psycopg[binary]``).
Every table carries the ``study_id``, so one PostgreSQL database can hold many studies and no query
of one study reads another's rows.

SQLite is opened in WAL mode with ``synchronous=FULL``: each vote is its own committed transaction,
so a server killed with ``-9`` (or a machine that loses power) keeps every vote it acknowledged.
A reviewer can vote once per item: the ``(study, item, reviewer)`` unique key refuses a second vote
even when two requests race.

Tables: ``review_study`` (kind, settings, hidden model identities, token salt), ``review_item``
(question, reference, answers in display order, the recorded side order), ``review_image`` (image
bytes, once per sha256), ``review_reviewer`` (name and token hash), ``review_vote``,
``review_session`` (the hash of each signed-in browser's session id, its reviewer and expiry; a
study made before sessions existed gets the table when it is next opened).

A new SQLite study file is created readable by its owner only (mode 0600): it holds the hidden
model identities and every vote. SQLite gives its ``-wal`` and ``-shm`` files the same mode.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medix_r1.errors import MedixError
from medix_r1.review.tokens import (
    hash_token,
    looks_like_token,
    new_salt,
    new_session_id,
    new_token,
    session_digest,
    token_matches,
)

__all__ = [
    "SCHEMA_VERSION",
    "PAIRWISE_CHOICES",
    "AUDIT_CHOICES",
    "StudyError",
    "DuplicateVoteError",
    "Study",
    "Item",
    "Reviewer",
    "Vote",
    "ReviewStore",
    "database_url",
]

SCHEMA_VERSION = 1
#: Pairwise choices, by displayed position: "1" / "2" = that answer is better.
PAIRWISE_CHOICES: tuple[str, ...] = ("1", "2", "tie", "both_bad")
#: Judge-audit choices: the clinician's verdict on the one answer.
AUDIT_CHOICES: tuple[str, ...] = ("correct", "partial", "incorrect")
KINDS: tuple[str, ...] = ("pairwise", "judge_audit")


class StudyError(MedixError, ValueError):
    """A study cannot be created, opened or written as asked; the message says what to change."""


class DuplicateVoteError(StudyError):
    """The reviewer has already voted on this item."""


@dataclass
class Study:
    study_id: str
    kind: str  # pairwise | judge_audit
    created_at: str
    settings: dict[str, Any]  # show_reasoning, show_reference, seed, n, tasks...
    sources: dict[str, Any]  # hidden from reviewers: model names and run folders

    @property
    def choices(self) -> tuple[str, ...]:
        return PAIRWISE_CHOICES if self.kind == "pairwise" else AUDIT_CHOICES


@dataclass
class Item:
    item_id: str  # "<task>:<sample id>:<content hash>", stable across runs of the same data
    position: int
    task: str
    sample_id: str
    content_hash: str
    question: str
    reference: str
    image_sha: str | None
    order: list[str]  # display order of answer slots: ["B", "A"] means Answer 1 is model B's
    answers: dict[str, dict[str, Any]]  # slot -> {modality, reasoning, answer, raw, ...}
    judge: dict[str, Any] | None = None  # judge audits: the judge's verdict (hidden from reviewers)


@dataclass
class Reviewer:
    reviewer_id: str
    name: str
    created_at: str


@dataclass
class Vote:
    item_id: str
    reviewer_id: str
    choice: str
    comment: str = ""
    cast_at: str = ""


@dataclass
class Draft:
    """A study before it is written: what sampling produced."""

    kind: str
    settings: dict[str, Any]
    sources: dict[str, Any]
    items: list[Item] = field(default_factory=list)
    images: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # sha -> (mime, bytes)
    notes: list[str] = field(default_factory=list)  # what sampling left out and why


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def database_url(target: str | Path) -> str:
    """A SQLAlchemy URL for a study file path or URL.

    >>> database_url("postgresql://db/reviews")
    'postgresql://db/reviews'
    >>> database_url("/tmp/s.db")
    'sqlite:////tmp/s.db'
    """
    text = str(target)
    if "://" in text:
        return text
    return "sqlite:///" + str(Path(text).expanduser().resolve())


def _tables(sa: Any) -> tuple[Any, ...]:
    md = sa.MetaData()
    study = sa.Table(
        "review_study",
        md,
        sa.Column("study_id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
    )
    fk_study = ("study_id",), ("review_study.study_id",)
    image = sa.Table(
        "review_image",
        md,
        sa.Column("study_id", sa.String(32), primary_key=True),
        sa.Column("sha", sa.String(64), primary_key=True),
        sa.Column("mime", sa.String(40), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.ForeignKeyConstraint(*fk_study),
    )
    item = sa.Table(
        "review_item",
        md,
        sa.Column("study_id", sa.String(32), primary_key=True),
        sa.Column("item_id", sa.String(300), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("sample_id", sa.String(300), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("image_sha", sa.String(64), nullable=True),
        sa.Column("answer_order", sa.JSON, nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("judge", sa.JSON, nullable=True),
        sa.ForeignKeyConstraint(*fk_study),
        sa.UniqueConstraint("study_id", "position", name="uq_review_item_position"),
    )
    reviewer = sa.Table(
        "review_reviewer",
        md,
        sa.Column("study_id", sa.String(32), primary_key=True),
        sa.Column("reviewer_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False, default=False),
        sa.ForeignKeyConstraint(*fk_study),
    )
    vote = sa.Table(
        "review_vote",
        md,
        sa.Column("vote_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(300), nullable=False),
        sa.Column("reviewer_id", sa.String(32), nullable=False),
        sa.Column("choice", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=False, default=""),
        sa.Column("cast_at", sa.String(40), nullable=False),
        sa.ForeignKeyConstraint(["study_id", "item_id"], ["review_item.study_id", "review_item.item_id"]),
        sa.ForeignKeyConstraint(
            ["study_id", "reviewer_id"], ["review_reviewer.study_id", "review_reviewer.reviewer_id"]
        ),
        sa.UniqueConstraint("study_id", "item_id", "reviewer_id", name="uq_review_vote_once"),
    )
    session = sa.Table(
        "review_session",
        md,
        sa.Column("study_id", sa.String(32), primary_key=True),
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("reviewer_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id", "reviewer_id"], ["review_reviewer.study_id", "review_reviewer.reviewer_id"]
        ),
    )
    return md, study, image, item, reviewer, vote, session


def _engine(url: str) -> Any:
    import sqlalchemy as sa

    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL: readers never block the writer; FULL: a commit is on disk before it returns.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:  # e.g. postgresql:// without a driver
        raise StudyError(
            f"no database driver for {url.split('://', 1)[0]}:// ({exc.name} is missing); "
            "for PostgreSQL run: pip install 'psycopg[binary]' and use postgresql+psycopg://..."
        ) from None


class ReviewStore:
    """One study in one database. Open with :meth:`open`, make with :meth:`create`."""

    def __init__(self, engine: Any, study_id: str, *, url: str = "") -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.engine = engine
        self.url = url
        self.study_id = study_id
        (
            self._md,
            self.t_study,
            self.t_image,
            self.t_item,
            self.t_reviewer,
            self.t_vote,
            self.t_session,
        ) = _tables(sa)
        with engine.connect() as conn:
            row = (
                conn.execute(sa.select(self.t_study).where(self.t_study.c.study_id == study_id))
                .mappings()
                .first()
            )
        if row is None:
            raise StudyError(f"{_safe_url(url)} holds no study {study_id!r}")
        if row["schema_version"] != SCHEMA_VERSION:
            raise StudyError(
                f"study {study_id} has schema version {row['schema_version']}; this medix-r1 reads "
                f"version {SCHEMA_VERSION}: use the medix-r1 version that made it"
            )
        self._salt: str = row["salt"]
        # studies made before sessions existed: add the table (no other table changes); on a
        # read-only file signing in fails later and says so
        with contextlib.suppress(sa.exc.OperationalError):
            self._md.create_all(engine, tables=[self.t_session], checkfirst=True)
        self.study = Study(
            study_id=row["study_id"],
            kind=row["kind"],
            created_at=row["created_at"],
            settings=dict(row["settings"]),
            sources=dict(row["sources"]),
        )

    # -- opening and creating ---------------------------------------------------------------------
    @classmethod
    def open(cls, target: str | Path, study_id: str | None = None) -> ReviewStore:
        """Open a study file or database URL; ``study_id`` is needed when a database holds several."""
        url = database_url(target)
        if url.startswith("sqlite") and "://" not in str(target) and not Path(target).exists():
            raise StudyError(
                f"{target} does not exist: make it with `medix-r1 review create ... --out {target}`"
            )
        engine = _engine(url)
        import sqlalchemy as sa

        _, t_study, *_ = _tables(sa)
        try:
            with engine.connect() as conn:
                ids = [
                    r[0] for r in conn.execute(sa.select(t_study.c.study_id).order_by(t_study.c.created_at))
                ]
        except sa.exc.DatabaseError as exc:  # not a database, or one without our tables
            raise StudyError(f"{_safe_url(url)} is not a review study database ({exc.orig})") from None
        if study_id is None:
            if len(ids) != 1:
                raise StudyError(
                    f"{_safe_url(url)} holds {len(ids)} studies ({', '.join(ids) or 'none'}); pass --study-id"
                )
            study_id = ids[0]
        elif study_id not in ids:
            raise StudyError(
                f"{_safe_url(url)} holds no study {study_id!r} (it has: {', '.join(ids) or 'none'})"
            )
        return cls(engine, study_id, url=url)

    @classmethod
    def create(cls, target: str | Path, draft: Draft) -> ReviewStore:
        """Write a sampled study into a new SQLite file or into a database URL."""
        import sqlalchemy as sa

        if draft.kind not in KINDS:
            raise StudyError(f"study kind {draft.kind!r}: choose one of {', '.join(KINDS)}")
        if not draft.items:
            raise StudyError("the study has no items: " + ("; ".join(draft.notes) or "nothing was sampled"))
        url = database_url(target)
        if url.startswith("sqlite") and "://" not in str(target):
            path = Path(target)
            if path.exists():
                raise StudyError(f"{path} already exists: choose another --out, or delete it first")
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # owner-only from the first byte (no window where it is world-readable)
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                raise StudyError(f"{path} already exists: choose another --out, or delete it first") from None
        engine = _engine(url)
        md, t_study, t_image, t_item, *_ = _tables(sa)
        md.create_all(engine)
        study_id = uuid.uuid4().hex
        with engine.begin() as conn:
            conn.execute(
                t_study.insert().values(
                    study_id=study_id,
                    kind=draft.kind,
                    created_at=_now(),
                    salt=new_salt(),
                    settings=draft.settings,
                    sources=draft.sources,
                    schema_version=SCHEMA_VERSION,
                )
            )
            for sha, (mime, data) in draft.images.items():
                conn.execute(t_image.insert().values(study_id=study_id, sha=sha, mime=mime, data=data))
            for it in draft.items:
                conn.execute(
                    t_item.insert().values(
                        study_id=study_id,
                        item_id=it.item_id,
                        position=it.position,
                        task=it.task,
                        sample_id=it.sample_id,
                        content_hash=it.content_hash,
                        question=it.question,
                        reference=it.reference,
                        image_sha=it.image_sha,
                        answer_order=it.order,
                        answers=it.answers,
                        judge=it.judge,
                    )
                )
        return cls(engine, study_id, url=url)

    def close(self) -> None:
        self.engine.dispose()

    # -- reviewers --------------------------------------------------------------------------------
    def add_reviewer(self, name: str) -> tuple[Reviewer, str]:
        """A new reviewer and their token (returned once; only its hash is kept)."""
        name = name.strip()
        if not name:
            raise StudyError("a reviewer needs a name (--name), e.g. the clinician's initials")
        token = new_token()
        reviewer = Reviewer(reviewer_id=uuid.uuid4().hex[:16], name=name, created_at=_now())
        with self.engine.begin() as conn:
            conn.execute(
                self.t_reviewer.insert().values(
                    study_id=self.study_id,
                    reviewer_id=reviewer.reviewer_id,
                    name=name,
                    token_hash=hash_token(token, self._salt),
                    created_at=reviewer.created_at,
                    revoked=False,
                )
            )
        return reviewer, token

    def reviewers(self) -> list[Reviewer]:
        sa, t = self.sa, self.t_reviewer
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.study_id == self.study_id).order_by(t.c.created_at, t.c.name)
            ).mappings()
            return [Reviewer(r["reviewer_id"], r["name"], r["created_at"]) for r in rows]

    def revoke_reviewer(self, reviewer_id: str) -> None:
        """Refuse the reviewer's token from now on and end every session they have open."""
        t, s = self.t_reviewer, self.t_session
        with self.engine.begin() as conn:
            done = conn.execute(
                t.update()
                .where(t.c.study_id == self.study_id, t.c.reviewer_id == reviewer_id)
                .values(revoked=True)
            )
            if done.rowcount == 1:
                conn.execute(s.delete().where(s.c.study_id == self.study_id, s.c.reviewer_id == reviewer_id))
        if done.rowcount != 1:
            raise StudyError(f"study {self.study_id} has no reviewer {reviewer_id!r}")

    def find_reviewer(self, who: str) -> Reviewer:
        """The reviewer with this id, or the one reviewer with this name (an error names the choices)."""
        who = who.strip()
        everyone = self.reviewers()
        by_id = [r for r in everyone if r.reviewer_id == who]
        by_name = [r for r in everyone if r.name == who]
        if by_id:
            return by_id[0]
        if len(by_name) == 1:
            return by_name[0]
        listed = ", ".join(f"{r.name} ({r.reviewer_id})" for r in everyone) or "none"
        if by_name:
            raise StudyError(f"{len(by_name)} reviewers are named {who!r}: give the id (reviewers: {listed})")
        raise StudyError(f"study {self.study_id} has no reviewer {who!r} (reviewers: {listed})")

    def is_revoked(self, reviewer_id: str) -> bool:
        sa, t = self.sa, self.t_reviewer
        with self.engine.connect() as conn:
            r = conn.execute(
                sa.select(t.c.revoked).where(t.c.study_id == self.study_id, t.c.reviewer_id == reviewer_id)
            ).first()
        return r is None or bool(r[0])

    # -- sessions (what the browser's cookie carries; never the token) ----------------------------
    def start_session(self, reviewer_id: str, *, ttl_s: float = 12 * 3600) -> str:
        """A new session id for a signed-in reviewer (only its hash is stored)."""
        session_id = new_session_id()
        with self.engine.begin() as conn:
            conn.execute(
                self.t_session.insert().values(
                    study_id=self.study_id,
                    session_hash=session_digest(session_id),
                    reviewer_id=reviewer_id,
                    created_at=_now(),
                    expires_at=time.time() + ttl_s,
                )
            )
        return session_id

    def session_reviewer(self, session_id: str | None) -> Reviewer | None:
        """The reviewer of a live session, or ``None`` (unknown, ended, expired, reviewer revoked)."""
        if not looks_like_token(session_id):
            return None
        sa, s, t = self.sa, self.t_session, self.t_reviewer
        with self.engine.connect() as conn:
            r = (
                conn.execute(
                    sa.select(t, s.c.expires_at)
                    .join(s, sa.and_(s.c.study_id == t.c.study_id, s.c.reviewer_id == t.c.reviewer_id))
                    .where(s.c.study_id == self.study_id, s.c.session_hash == session_digest(session_id))
                )
                .mappings()
                .first()
            )
        if r is None or r["revoked"] or r["expires_at"] < time.time():
            return None
        return Reviewer(r["reviewer_id"], r["name"], r["created_at"])

    def end_session(self, session_id: str | None) -> bool:
        """End a session (sign out); ``True`` when there was one."""
        if not looks_like_token(session_id):
            return False
        s = self.t_session
        with self.engine.begin() as conn:
            done = conn.execute(
                s.delete().where(
                    s.c.study_id == self.study_id, s.c.session_hash == session_digest(session_id)
                )
            )
        return done.rowcount > 0

    def authenticate(self, token: str | None) -> Reviewer | None:
        """The reviewer a token belongs to, or ``None`` (missing, malformed, revoked, other study's)."""
        if not looks_like_token(token):
            return None
        sa, t = self.sa, self.t_reviewer
        with self.engine.connect() as conn:
            rows = list(conn.execute(sa.select(t).where(t.c.study_id == self.study_id)).mappings())
        found = None
        for r in rows:  # compare with every reviewer: the time taken does not depend on where it matched
            if token_matches(token, self._salt, r["token_hash"]) and not r["revoked"]:  # type: ignore[arg-type]
                found = Reviewer(r["reviewer_id"], r["name"], r["created_at"])
        return found

    # -- items and images -------------------------------------------------------------------------
    def _item(self, r: Any) -> Item:
        return Item(
            item_id=r["item_id"],
            position=r["position"],
            task=r["task"],
            sample_id=r["sample_id"],
            content_hash=r["content_hash"],
            question=r["question"],
            reference=r["reference"],
            image_sha=r["image_sha"],
            order=list(r["answer_order"]),
            answers=dict(r["answers"]),
            judge=r["judge"],
        )

    def items(self) -> list[Item]:
        sa, t = self.sa, self.t_item
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.study_id == self.study_id).order_by(t.c.position)
            ).mappings()
            return [self._item(r) for r in rows]

    def item(self, item_id: str) -> Item | None:
        sa, t = self.sa, self.t_item
        with self.engine.connect() as conn:
            r = (
                conn.execute(sa.select(t).where(t.c.study_id == self.study_id, t.c.item_id == item_id))
                .mappings()
                .first()
            )
        return None if r is None else self._item(r)

    def count_items(self) -> int:
        sa, t = self.sa, self.t_item
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(t).where(t.c.study_id == self.study_id)
                ).scalar()
            )

    def next_item(self, reviewer_id: str) -> Item | None:
        """The first item in study order that the reviewer has not voted on."""
        sa, t, v = self.sa, self.t_item, self.t_vote
        voted = sa.select(v.c.item_id).where(v.c.study_id == self.study_id, v.c.reviewer_id == reviewer_id)
        with self.engine.connect() as conn:
            r = (
                conn.execute(
                    sa.select(t)
                    .where(t.c.study_id == self.study_id, t.c.item_id.not_in(voted))
                    .order_by(t.c.position)
                    .limit(1)
                )
                .mappings()
                .first()
            )
        return None if r is None else self._item(r)

    def image(self, sha: str) -> tuple[str, bytes] | None:
        sa, t = self.sa, self.t_image
        with self.engine.connect() as conn:
            r = conn.execute(
                sa.select(t.c.mime, t.c.data).where(t.c.study_id == self.study_id, t.c.sha == sha)
            ).first()
        return None if r is None else (r[0], bytes(r[1]))

    # -- votes ------------------------------------------------------------------------------------
    def progress(self, reviewer_id: str) -> tuple[int, int]:
        """(items this reviewer has voted on, items in the study)."""
        sa, v = self.sa, self.t_vote
        with self.engine.connect() as conn:
            done = conn.execute(
                sa.select(sa.func.count())
                .select_from(v)
                .where(v.c.study_id == self.study_id, v.c.reviewer_id == reviewer_id)
            ).scalar()
        return int(done or 0), self.count_items()

    def cast_vote(self, reviewer_id: str, item_id: str, choice: str, comment: str = "") -> Vote:
        """Record one vote in its own committed transaction; a second vote on an item is refused."""
        if choice not in self.study.choices:
            raise StudyError(
                f"choice {choice!r}: this {self.study.kind} study takes {', '.join(self.study.choices)}"
            )
        comment = (comment or "").strip()
        if len(comment) > 5000:
            raise StudyError(f"comment of {len(comment)} characters: keep it under 5000")
        if self.item(item_id) is None:
            raise StudyError(f"study {self.study_id} has no item {item_id!r}")
        vote = Vote(item_id=item_id, reviewer_id=reviewer_id, choice=choice, comment=comment, cast_at=_now())
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    self.t_vote.insert().values(
                        study_id=self.study_id,
                        item_id=item_id,
                        reviewer_id=reviewer_id,
                        choice=choice,
                        comment=comment,
                        cast_at=vote.cast_at,
                    )
                )
        except self.sa.exc.IntegrityError:
            raise DuplicateVoteError(f"reviewer {reviewer_id} has already voted on item {item_id}") from None
        return vote

    def votes(self) -> list[Vote]:
        """Every vote of the study (for the owner's report; never served to reviewers)."""
        sa, v = self.sa, self.t_vote
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(v).where(v.c.study_id == self.study_id).order_by(v.c.vote_id)
            ).mappings()
            return [
                Vote(r["item_id"], r["reviewer_id"], r["choice"], r["comment"], r["cast_at"]) for r in rows
            ]

    def describe(self) -> str:
        done = len(self.votes())
        return (
            f"study {self.study_id} ({self.study.kind}) in {_safe_url(self.url)}: {self.count_items()} items, "
            f"{len(self.reviewers())} reviewer(s), {done} vote(s)"
        )

    def settings_json(self) -> str:
        return json.dumps(self.study.settings, sort_keys=True)


def _safe_url(url: str) -> str:
    """A database URL with any password masked (for messages).

    >>> _safe_url("postgresql://me:secret@db/x")
    'postgresql://me:***@db/x'
    """
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        if ":" in cred:
            cred = cred.split(":", 1)[0] + ":***"
        return f"{scheme}://{cred}@{host}"
    return url
