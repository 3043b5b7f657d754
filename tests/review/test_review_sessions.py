"""Review sign-in over HTTP (issue 17, point 8): the cookie is a session id, sign-out ends it, a
revoked reviewer is signed out everywhere, failed sign-ins are rate limited, the study file is 0600,
and ``review serve`` refuses a network interface without TLS.

The app is driven through a real HTTP client (httpx, via Starlette's TestClient) against the ASGI app.
"""

from __future__ import annotations

import stat

import pytest
from typer.testing import CliRunner

from medix_r1.cli import app as cli
from medix_r1.review import ReviewStore, sample_pairwise
from medix_r1.review.app import COOKIE, create_app
from medix_r1.review.ratelimit import LoginLimiter

starlette_testclient = pytest.importorskip("starlette.testclient")
runner = CliRunner()


@pytest.fixture
def study(runs, tmp_path):
    store = ReviewStore.create(
        tmp_path / "study.db", sample_pairwise(runs["good"], runs["weak"], n=4, seed=3)
    )
    yield store
    store.close()


def _sign_in(client, token):
    return client.post("/login", data={"token": token}, follow_redirects=False)


def test_the_cookie_is_a_session_id_and_sign_out_ends_it_for_a_replayed_copy(study, tmp_path):
    _, token = study.add_reviewer("Dr A")
    browser = starlette_testclient.TestClient(create_app(study))
    r = _sign_in(browser, token)
    assert r.status_code == 303
    session = r.cookies.get(COOKIE)
    assert session.startswith("mxs_") and token not in session and session not in token
    assert browser.get("/api/next").status_code == 200
    # the database holds neither the token nor the session id, only their hashes
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("study.db*"))
    assert session.encode() not in raw and token.encode() not in raw
    # a copy of the cookie works while the session lives ...
    thief = starlette_testclient.TestClient(create_app(study), cookies={COOKIE: session})
    assert thief.get("/api/next").status_code == 200
    # ... and not after the reviewer signs out
    assert browser.post("/logout", follow_redirects=False).status_code == 303
    assert thief.get("/api/next").status_code == 401
    assert (
        starlette_testclient.TestClient(create_app(study), cookies={COOKIE: session})
        .get("/api/next")
        .status_code
        == 401
    )
    # the raw token in the cookie is not a session
    assert (
        starlette_testclient.TestClient(create_app(study), cookies={COOKIE: token})
        .get("/api/next")
        .status_code
        == 401
    )


def test_revoke_reviewer_command_signs_them_out_and_refuses_the_token(study, tmp_path):
    reviewer, token = study.add_reviewer("Dr A")
    _, other_token = study.add_reviewer("Dr B")
    browser = starlette_testclient.TestClient(create_app(study))
    _sign_in(browser, token)
    other = starlette_testclient.TestClient(create_app(study))
    _sign_in(other, other_token)
    assert browser.get("/api/next").status_code == 200
    item = browser.get("/api/next").json()["item"]["item_id"]
    assert browser.post("/api/vote", json={"item_id": item, "choice": "1"}).status_code == 200

    db = str(tmp_path / "study.db")
    r = runner.invoke(cli, ["review", "revoke-reviewer", db, "--reviewer", "Dr A"])
    assert r.exit_code == 0, r.output
    assert f"revoked reviewer Dr A ({reviewer.reviewer_id}); their votes are kept" in r.output
    assert browser.get("/api/next").status_code == 401  # the open session is over
    assert _sign_in(starlette_testclient.TestClient(create_app(study)), token).status_code == 401
    assert other.get("/api/next").status_code == 200  # nobody else is affected
    assert len(study.votes()) == 1  # the vote stays
    status = runner.invoke(cli, ["review", "status", db])
    assert "(revoked)" in status.output
    # unknown reviewer: a clear error naming who exists, exit 2
    r = runner.invoke(cli, ["review", "revoke-reviewer", db, "--reviewer", "Dr Q"])
    assert r.exit_code == 2 and "has no reviewer 'Dr Q'" in r.output and "Dr B" in r.output


def test_failed_sign_ins_are_rate_limited_per_client(study):
    _, token = study.add_reviewer("Dr A")
    clock = [0.0]
    limiter = LoginLimiter(max_failures=3, window_s=60, clock=lambda: clock[0])
    app = create_app(study, limiter=limiter)
    guesser = starlette_testclient.TestClient(app)
    for _ in range(3):
        assert _sign_in(guesser, "mxr_" + "x" * 32).status_code == 401
    r = _sign_in(guesser, "mxr_" + "y" * 32)
    assert r.status_code == 429 and r.headers["retry-after"] == "60" and "Too many failed" in r.text
    # while limited even the right token waits (the limit does not tell guesses apart)
    assert _sign_in(guesser, token).status_code == 429
    # bearer guesses count too, and are answered 429 once over the limit
    script = starlette_testclient.TestClient(app, headers={"Authorization": "Bearer mxr_" + "z" * 32})
    assert script.get("/api/next").status_code == 429
    clock[0] = 61.0  # the window passes
    assert _sign_in(guesser, token).status_code == 303


def test_a_new_study_file_is_readable_by_its_owner_only(runs, tmp_path):
    r = runner.invoke(
        cli,
        [
            "review",
            "create",
            "--pairwise",
            str(runs["good"]),
            str(runs["weak"]),
            "--n",
            "2",
            "--seed",
            "1",
            "--out",
            str(tmp_path / "s.db"),
        ],
    )
    assert r.exit_code == 0, r.output
    store = ReviewStore.open(tmp_path / "s.db")
    store.add_reviewer("Dr A")  # writes, so the -wal file exists too
    for f in tmp_path.glob("s.db*"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    store.close()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--host", "0.0.0.0"], "--host 0.0.0.0 serves the study to the network over plain HTTP"),
        (["--host", "192.168.1.5", "--tls-cert", "cert.pem"], "TLS needs both --tls-cert"),
        (
            ["--host", "0.0.0.0", "--tls-cert", "nope.pem", "--tls-key", "nope.key"],
            "--tls-cert nope.pem: no such file",
        ),
        (["--port", "0"], "Invalid value for '--port'"),
    ],
)
def test_serve_refuses_an_exposed_interface_without_tls(study, tmp_path, args, message):
    r = runner.invoke(cli, ["review", "serve", str(tmp_path / "study.db"), *args])
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split()), r.output


def test_serve_says_when_the_port_is_taken(study, tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = runner.invoke(cli, ["review", "serve", str(tmp_path / "study.db"), "--port", str(port)])
    assert r.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in r.output and "choose another --port" in r.output


def test_an_unreadable_image_is_named_by_sample_and_file_not_by_a_python_object():
    from medix_r1.review.sampling import _normalise_image
    from medix_r1.review.store import StudyError

    with pytest.raises(StudyError) as err:
        _normalise_image(b"not an image", "sample mini_x_ray_0 (image 'images/a.png')")
    assert str(err.value) == (
        "sample mini_x_ray_0 (image 'images/a.png'): the image cannot be read "
        "(not PNG, JPEG, GIF or another format PIL opens)"
    )
    assert "BytesIO" not in str(err.value)
