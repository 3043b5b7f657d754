"""End to end in headless Chromium: a reviewer signs in with a token, votes on two items with the
keyboard, and the report counts both votes. Leaves a screenshot at ``runs/artifacts/review.png``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from medix_r1.review import ReviewStore, sample_pairwise
from medix_r1.review.report import analyse
from medix_r1.review.stats import pairwise_outcome

ARTIFACTS = Path(__file__).resolve().parents[2] / "runs" / "artifacts"


def _chromium() -> str:
    found = os.environ.get("MEDIX_R1_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        pytest.skip("needs Debian's chromium (`make test` installs it as root: apt-get install chromium)")
    return found


@pytest.mark.browser
def test_reviewer_signs_in_votes_twice_and_the_report_counts_it(runs, tmp_path, server_kit):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (dev extra)")
    chromium = _chromium()
    expect = sync_api.expect
    path = tmp_path / "study.db"
    store = ReviewStore.create(path, sample_pairwise(runs["good"], runs["weak"], n=4, seed=2))
    _, token = store.add_reviewer("Dr A")
    items = store.items()
    with server_kit.ServerProcess(path) as server, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-background-networking", "--headless"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(server.url)
            # a wrong token gets an error and nothing else
            page.get_by_label("Access token").fill("mxr_not-a-real-token")
            page.keyboard.press("Enter")
            assert page.get_by_role("alert").inner_text() == "That token is not valid for this study."
            page.get_by_label("Access token").fill(token)
            page.keyboard.press("Enter")
            page.wait_for_selector("#item:not([hidden])")
            assert page.inner_text("#progress-text") == "0 of 4 reviewed"
            assert page.inner_text("#task") == f"Task: {items[0].task}"
            assert page.inner_text("#question") == items[0].question
            for _ in range(50):  # the image arrives after the item (served only with the token)
                if page.locator("#image").evaluate("img => img.complete && img.naturalWidth") > 0:
                    break
                page.wait_for_timeout(100)
            else:
                raise AssertionError("the item's image did not load")
            cards = page.locator("article.card h2").all_inner_texts()
            assert cards == ["Answer 1", "Answer 2"]
            text = page.inner_text("body")
            # blind (no model names) and the reasoning is hidden by default
            assert "Good" not in text and "Weak" not in text and "reader" not in text
            first = items[0].answers[items[0].order[0]]
            assert page.locator("article.card .answer-text").first.inner_text() == first["answer"]
            assert page.locator("article.card .tag").first.inner_text() == f"Modality: {first['modality']}"
            # vote 1 with the keyboard: 1 then Enter
            page.keyboard.press("1")
            assert page.get_attribute("button[data-choice='1']", "aria-pressed") == "true"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
            page.keyboard.press("Enter")
            expect(page.locator("#progress-text")).to_have_text("1 of 4 reviewed")
            assert page.inner_text("#task") == f"Task: {items[1].task}"
            # vote 2: t (tie), a comment, Enter from the comment box
            page.keyboard.press("t")
            page.get_by_label("Comment (optional)").fill("Both fine; 2 is terser.")
            page.keyboard.press("Enter")
            expect(page.locator("#progress-text")).to_have_text("2 of 4 reviewed")
            assert page.inner_text("#status") == "Vote saved."
            # typing a shortcut letter in the comment box types it, it does not vote
            page.get_by_label("Comment (optional)").fill("b")
            assert page.get_attribute("button[data-choice='both_bad']", "aria-pressed") == "false"
            assert all(u.startswith(server.url) for u in requests), requests  # nothing from elsewhere
        finally:
            browser.close()
    votes = store.votes()
    assert [(v.item_id, v.choice, v.comment) for v in votes] == [
        (items[0].item_id, "1", ""),
        (items[1].item_id, "tie", "Both fine; 2 is terser."),
    ]
    p = analyse(store)
    overall = next(r for r in p["table"] if r["task"] == "overall")
    expected = {"win": 0, "tie": 1, "loss": 0, "both_bad": 0}
    expected[pairwise_outcome("1", items[0].order)] += 1
    assert overall["votes"] == 2 and {k: v["count"] for k, v in overall["shares"].items()} == expected
    store.close()
