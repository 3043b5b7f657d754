"""The reviewer app in-process: token checks, one vote per item, blindness, what the page offers."""

from __future__ import annotations

import pytest

from medix_r1.review import DuplicateVoteError, ReviewStore, StudyError, sample_judge_audit, sample_pairwise
from medix_r1.review.app import COOKIE, create_app

starlette_testclient = pytest.importorskip("starlette.testclient")


@pytest.fixture
def study(runs, tmp_path):
    store = ReviewStore.create(
        tmp_path / "study.db", sample_pairwise(runs["good"], runs["weak"], n=6, seed=5)
    )
    yield store
    store.close()


def _client(store, token=None):
    c = starlette_testclient.TestClient(create_app(store))
    if token:
        c.headers["Authorization"] = f"Bearer {token}"
    return c


def test_no_wrong_or_foreign_token_gets_nothing(study, runs, tmp_path):
    _, token = study.add_reviewer("Dr A")
    other = ReviewStore.create(
        tmp_path / "other.db", sample_pairwise(runs["good"], runs["weak"], n=2, seed=1)
    )
    _, foreign = other.add_reviewer("Dr Z")
    sha = study.items()[0].image_sha
    item_id = study.items()[0].item_id
    for bad in (None, "", "mxr_" + "x" * 32, token[:-1], token + "x", foreign, "mxr_a b", "x" * 5000):
        c = _client(study, bad)
        for method, path, kw in (
            ("GET", "/api/next", {}),
            ("GET", f"/image/{sha}", {}),
            ("POST", "/api/vote", {"json": {"item_id": item_id, "choice": "1"}}),
        ):
            r = c.request(method, path, **kw)
            assert (r.status_code, r.content) == (401, b""), (bad, path)
        page = c.get("/")  # the sign-in page only: nothing of the study
        assert page.status_code == 200 and "Access token" in page.text
        assert "Answer 1" not in page.text and item_id not in page.text
    assert study.votes() == []
    # the same checks through the sign-in form and its cookie
    c = _client(study)
    r = c.post(
        "/login", content="token=" + foreign, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 401 and "not valid" in r.text and COOKIE not in r.cookies
    r = c.post("/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.cookies.get(COOKIE).startswith("mxs_")
    assert token not in r.headers["set-cookie"]  # the cookie is a session id, never the token
    assert (
        "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    )
    assert c.get("/api/next").status_code == 200
    assert c.get(f"/image/{sha}").headers["content-type"] == "image/png"
    c.post("/logout")
    assert c.get("/api/next").status_code == 401
    other.close()


def test_a_revoked_reviewer_is_refused_and_only_hashes_are_stored(study, tmp_path):
    reviewer, token = study.add_reviewer("Dr A")
    assert study.authenticate(token).reviewer_id == reviewer.reviewer_id
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("study.db*"))
    assert token.encode() not in raw and token[4:].encode() not in raw
    study.revoke_reviewer(reviewer.reviewer_id)
    assert study.authenticate(token) is None
    assert _client(study, token).get("/api/next").status_code == 401


def test_one_vote_per_item_and_no_one_sees_others_votes(study):
    _, tok_a = study.add_reviewer("Dr A")
    _, tok_b = study.add_reviewer("Dr B")
    a, b = _client(study, tok_a), _client(study, tok_b)
    first = a.get("/api/next").json()
    assert first["progress"] == {"done": 0, "total": 6} and not first["done"]
    item_id = first["item"]["item_id"]
    r = a.post("/api/vote", json={"item_id": item_id, "choice": "1", "comment": " clearer "})
    assert r.status_code == 200 and r.json() == {"ok": True, "progress": {"done": 1, "total": 6}}
    again = a.post("/api/vote", json={"item_id": item_id, "choice": "2"})
    assert again.status_code == 409 and "already voted" in again.json()["error"]
    assert [v.choice for v in study.votes()] == ["1"] and study.votes()[0].comment == "clearer"
    # B starts fresh: A's vote changes nothing B can see
    nb = b.get("/api/next").json()
    assert nb["progress"] == {"done": 0, "total": 6} and nb["item"]["item_id"] == item_id
    assert "choice" not in str(nb) and "Dr A" not in str(nb)
    assert b.post("/api/vote", json={"item_id": item_id, "choice": "tie"}).status_code == 200
    # A moves on to the next item
    assert a.get("/api/next").json()["item"]["item_id"] != item_id
    # the store refuses a double vote however it comes
    reviewer_a = study.authenticate(tok_a)
    with pytest.raises(DuplicateVoteError):
        study.cast_vote(reviewer_a.reviewer_id, item_id, "2")


def test_bad_votes_are_refused_with_a_reason(study):
    _, token = study.add_reviewer("Dr A")
    c = _client(study, token)
    item_id = c.get("/api/next").json()["item"]["item_id"]
    assert c.post("/api/vote", json={"item_id": item_id, "choice": "correct"}).status_code == 400
    assert c.post("/api/vote", json={"item_id": "nope", "choice": "1"}).status_code == 404
    assert c.post("/api/vote", json=["x"]).status_code == 400
    assert c.post("/api/vote", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert (
        c.post("/api/vote", content=b"item_id=x", headers={"content-type": "text/plain"}).status_code == 415
    )
    assert study.votes() == []


def test_every_item_then_done_and_the_page_is_self_contained(study):
    _, token = study.add_reviewer("Dr A")
    c = _client(study, token)
    page = c.get("/")
    assert page.status_code == 200 and "Which answer is better?" in page.text
    assert "<kbd>1</kbd>" in page.text and "<kbd>T</kbd>" in page.text and "<kbd>B</kbd>" in page.text
    assert (
        "http://" not in page.text
        and "https://" not in page.text
        and "src=" not in page.text.split("<script")[0]
    )
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'nonce-" in csp
    for k in range(6):
        d = c.get("/api/next").json()
        assert d["progress"]["done"] == k
        assert (
            c.post("/api/vote", json={"item_id": d["item"]["item_id"], "choice": "both_bad"}).status_code
            == 200
        )
    d = c.get("/api/next").json()
    assert d == {"done": True, "progress": {"done": 6, "total": 6}, "item": None}


def test_judge_audit_page_offers_the_three_verdicts_and_hides_the_judge(runs, tmp_path):
    store = ReviewStore.create(tmp_path / "audit.db", sample_judge_audit(runs["weak"], n=4, seed=0))
    _, token = store.add_reviewer("Dr A")
    c = _client(store, token)
    page = c.get("/").text
    assert "Is this answer correct?" in page and "Partially correct" in page and "<kbd>C</kbd>" in page
    d = c.get("/api/next").json()
    assert [a["label"] for a in d["item"]["answers"]] == ["Answer"]
    assert "judge" not in str(d) and "fake" not in str(d)
    assert c.post("/api/vote", json={"item_id": d["item"]["item_id"], "choice": "1"}).status_code == 400
    assert c.post("/api/vote", json={"item_id": d["item"]["item_id"], "choice": "partial"}).status_code == 200
    with pytest.raises(StudyError, match="takes correct, partial, incorrect"):
        store.cast_vote(store.authenticate(token).reviewer_id, d["item"]["item_id"], "tie")
    store.close()
