"""Kill -9 the review server mid-study and restart it: every acknowledged vote is still there."""

from __future__ import annotations

import signal

from medix_r1.review import ReviewStore, sample_pairwise


def test_kill_9_and_restart_keeps_every_vote(runs, tmp_path, server_kit):
    path = tmp_path / "study.db"
    store = ReviewStore.create(path, sample_pairwise(runs["good"], runs["weak"], n=6, seed=11))
    _, token = store.add_reviewer("Dr A")
    _, token_b = store.add_reviewer("Dr B")
    store.close()
    cast = []
    choices = ["1", "2", "tie", "both_bad", "1", "2"]
    server = server_kit.ServerProcess(path)
    try:
        assert server.request("GET", "api/next") == (401, None)
        for k in range(3):
            status, nxt = server.request("GET", "api/next", token)
            assert status == 200 and nxt["progress"]["done"] == k
            item_id = nxt["item"]["item_id"]
            status, ack = server.request(
                "POST", "api/vote", token, {"item_id": item_id, "choice": choices[k]}
            )
            assert status == 200 and ack["progress"]["done"] == k + 1
            cast.append((item_id, choices[k]))
        status, _ = server.request("POST", "api/vote", token_b, {"item_id": cast[0][0], "choice": "tie"})
        assert status == 200
    finally:
        server.kill()
    assert server.proc.returncode == -signal.SIGKILL
    # restarted (same file, new process): the reviewer continues where they stopped
    with server_kit.ServerProcess(path) as again:
        status, nxt = again.request("GET", "api/next", token)
        assert status == 200 and nxt["progress"] == {"done": 3, "total": 6}
        assert nxt["item"]["item_id"] not in {i for i, _ in cast}
        assert again.request("POST", "api/vote", token, {"item_id": cast[0][0], "choice": "2"})[0] == 409
        for k in range(3, 6):
            item_id = again.request("GET", "api/next", token)[1]["item"]["item_id"]
            assert (
                again.request("POST", "api/vote", token, {"item_id": item_id, "choice": choices[k]})[0] == 200
            )
            cast.append((item_id, choices[k]))
        assert again.request("GET", "api/next", token)[1]["done"] is True
    store = ReviewStore.open(path)
    by_a = [
        (v.item_id, v.choice) for v in store.votes() if v.reviewer_id == store.authenticate(token).reviewer_id
    ]
    assert by_a == cast and len(store.votes()) == 7
    assert [it.item_id for it in store.items()] == [i for i, _ in cast]  # study order, nothing skipped
    store.close()
