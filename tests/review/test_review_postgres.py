"""The same store code on PostgreSQL: a throwaway server on loopback (Debian's postgresql binaries and
the psycopg driver), or the database in ``MEDIX_R1_TEST_POSTGRES_URL``. Skipped when neither exists.

Two studies share one database here: every query is scoped by study, so tokens, items and votes of
one never reach the other.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from medix_r1.review import DuplicateVoteError, ReviewStore, StudyError, sample_pairwise
from medix_r1.review.report import analyse


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg", reason="needs the psycopg driver (eval extra)")
    url = os.environ.get("MEDIX_R1_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip(
            "needs PostgreSQL server binaries (apt-get install postgresql) or MEDIX_R1_TEST_POSTGRES_URL"
        )
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        runuser = shutil.which("runuser")
        if runuser is None or subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
            pytest.skip("running as root without a postgres user to run the server")
        prefix = [runuser, "-u", "postgres", "--"]
    data = Path(tempfile.mkdtemp(prefix="medix-pg-"))
    if prefix:
        shutil.chown(data, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    init = subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "medix", "--no-sync"],
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
    server = subprocess.Popen(
        [*prefix, str(bindir / "postgres"), "-D", str(data / "db"), "-h", "127.0.0.1", "-p", str(port)]
        + ["-k", str(data), "-c", "fsync=off"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"postgresql+psycopg://medix@127.0.0.1:{port}/postgres"
    try:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(f"postgresql://medix@127.0.0.1:{port}/postgres", connect_timeout=1).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.skip("the throwaway PostgreSQL server did not start")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        shutil.rmtree(data, ignore_errors=True)


def test_two_studies_in_one_postgres_database(pg_url, runs):
    first = ReviewStore.create(pg_url, sample_pairwise(runs["good"], runs["weak"], n=4, seed=1))
    second = ReviewStore.create(pg_url, sample_pairwise(runs["good"], runs["weak"], n=3, seed=2))
    with pytest.raises(StudyError, match="pass --study-id"):
        ReviewStore.open(pg_url)
    reviewer, token = first.add_reviewer("Dr A")
    _, other_token = second.add_reviewer("Dr B")
    assert first.authenticate(token).reviewer_id == reviewer.reviewer_id
    assert first.authenticate(other_token) is None and second.authenticate(token) is None
    item = first.next_item(reviewer.reviewer_id)
    first.cast_vote(reviewer.reviewer_id, item.item_id, "1", "é ünïcode kept")
    with pytest.raises(DuplicateVoteError):
        first.cast_vote(reviewer.reviewer_id, item.item_id, "2")
    # reopened by id (a new engine, as a restarted server would): the vote and images are there
    again = ReviewStore.open(pg_url, first.study_id)
    assert [(v.item_id, v.choice, v.comment) for v in again.votes()] == [
        (item.item_id, "1", "é ünïcode kept")
    ]
    assert again.progress(reviewer.reviewer_id) == (1, 4) and second.votes() == []
    mime, data = again.image(item.image_sha)
    assert mime == "image/png" and data.startswith(b"\x89PNG")
    assert [i.item_id for i in again.items()] == [i.item_id for i in first.items()]
    assert analyse(again)["votes"] == 1
    for s in (first, second, again):
        s.close()
