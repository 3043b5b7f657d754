"""The reviewer web app (``medix-r1 review serve STUDY --port P``): one item at a time, blind.

A small Starlette app, served by uvicorn. A reviewer signs in with the access token the study owner
made (``medix-r1 review add-reviewer``); the browser then holds a session id in an HttpOnly,
SameSite=Strict cookie (Secure over TLS), never the token. Signing out deletes the session, so a
copied cookie stops working; ``medix-r1 review revoke-reviewer`` ends a reviewer's sessions and
refuses their token. Scripts may send the token as ``Authorization: Bearer``. Without a valid
session or token every route but the sign-in page answers 401 with an empty body: no item, image
or progress is served. Failed sign-ins (form or header) are rate limited per client
(:class:`~medix_r1.review.ratelimit.LoginLimiter`, answered 429 with ``Retry-After``).

:func:`serve` listens on loopback by default; another interface needs TLS (``tls_cert`` and
``tls_key``) unless the caller explicitly accepts plain HTTP (``insecure_http=True``).

Reviewers see the question, the image, the reference (when the study shows it) and the answers
labelled only "Answer 1" / "Answer 2" in the item's recorded side order, each with its modality tag
and final answer as the parser reads them, and the reasoning when the study shows it. Model names,
the side order, the judge's verdict and other reviewers' votes never leave the server. Each vote is
committed before the reply; a second vote on an item is refused (409).

The page is plain HTML with inline CSS and JS (no external assets; a per-response CSP nonce).
Keyboard: ``1`` / ``2`` / ``t`` / ``b`` choose (judge audits: ``c`` / ``p`` / ``i``), ``Enter`` submits.
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any
from urllib.parse import parse_qs

from medix_r1.review.ratelimit import LoginLimiter
from medix_r1.review.store import DuplicateVoteError, Item, ReviewStore, StudyError

__all__ = ["create_app", "serve", "COOKIE", "item_for_reviewer", "is_loopback", "ServeRefused"]

COOKIE = "mxr_review"
_MAX_BODY = 64 * 1024

PAIRWISE_BUTTONS = (
    ("1", "1", "Answer 1 is better"),
    ("2", "2", "Answer 2 is better"),
    ("tie", "t", "Tie"),
    ("both_bad", "b", "Both unacceptable"),
)
AUDIT_BUTTONS = (
    ("correct", "c", "Correct"),
    ("partial", "p", "Partially correct"),
    ("incorrect", "i", "Incorrect"),
)


def item_for_reviewer(store: ReviewStore, item: Item) -> dict[str, Any]:
    """The item as a reviewer may see it: no model names, side order, judge verdict or raw replies."""
    settings = store.study.settings
    answers = []
    for k, slot in enumerate(item.order, start=1):
        a = item.answers[slot]
        shown = {
            "label": f"Answer {k}" if len(item.order) > 1 else "Answer",
            "modality": a.get("modality"),
            "answer": a.get("answer", ""),
            "answer_block": bool(a.get("answer_block")),
        }
        if settings.get("show_reasoning"):
            shown["reasoning"] = a.get("reasoning")
        answers.append(shown)
    return {
        "item_id": item.item_id,
        "task": item.task,
        "question": item.question,
        "reference": item.reference if settings.get("show_reference", True) else None,
        "image": f"image/{item.image_sha}" if item.image_sha else None,
        "answers": answers,
    }


def create_app(store: ReviewStore, *, limiter: LoginLimiter | None = None) -> Any:
    """The ASGI app for one study (``limiter``: the sign-in rate limit; default 5 failures a minute)."""
    try:
        from starlette.applications import Starlette
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
        from starlette.routing import Route
    except ImportError as exc:  # pragma: no cover - the eval extra installs it
        raise ImportError("the review app needs starlette and uvicorn: pip install 'medix-r1[eval]'") from exc

    kind = store.study.kind
    buttons = PAIRWISE_BUTTONS if kind == "pairwise" else AUDIT_BUTTONS

    limits = limiter if limiter is not None else LoginLimiter()

    def _client(request: Request) -> str:
        return request.client.host if request.client is not None else "?"

    def _reviewer(request: Request) -> Any:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):  # scripts: the token itself, rate limited on failure
            client = _client(request)
            if limits.retry_after(client):
                return None
            found = store.authenticate(auth[7:].strip())
            if found is None:
                limits.failed(client)
            return found
        return store.session_reviewer(request.cookies.get(COOKIE))

    def _too_many(wait: int, nonce: str | None = None) -> Response:
        headers = {**_headers(nonce), "Retry-After": str(wait)}
        if nonce is None:
            return Response(status_code=429, headers=headers)
        page = _login_page(nonce, error=f"Too many failed sign-ins. Try again in {wait} seconds.")
        return HTMLResponse(page, status_code=429, headers=headers)

    def _headers(nonce: str | None = None) -> dict[str, str]:
        h = {
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
        }
        if nonce is not None:
            h["Content-Security-Policy"] = (
                f"default-src 'none'; img-src 'self'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
            )
        return h

    def _nothing() -> Response:
        return Response(status_code=401, headers=_headers())

    async def index(request: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        reviewer = await run_in_threadpool(_reviewer, request)
        if reviewer is None:
            return HTMLResponse(_login_page(nonce), headers=_headers(nonce))
        return HTMLResponse(_review_page(nonce, kind, buttons, reviewer.name), headers=_headers(nonce))

    async def login(request: Request) -> Response:
        client = _client(request)
        wait = limits.retry_after(client)
        if wait:
            return _too_many(wait, secrets.token_urlsafe(16))
        body = (await request.body())[:_MAX_BODY].decode("utf-8", "replace")
        token = (parse_qs(body).get("token") or [""])[0].strip()
        reviewer = await run_in_threadpool(store.authenticate, token)
        if reviewer is None:
            limits.failed(client)
            nonce = secrets.token_urlsafe(16)
            return HTMLResponse(
                _login_page(nonce, error="That token is not valid for this study."),
                status_code=401,
                headers=_headers(nonce),
            )
        limits.succeeded(client)
        session_id = await run_in_threadpool(store.start_session, reviewer.reviewer_id)
        resp = RedirectResponse("./", status_code=303, headers=_headers())
        resp.set_cookie(
            COOKIE,
            session_id,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return resp

    async def logout(request: Request) -> Response:
        await run_in_threadpool(store.end_session, request.cookies.get(COOKIE))
        resp = RedirectResponse("./", status_code=303, headers=_headers())
        resp.delete_cookie(COOKIE, path="/")
        return resp

    def _next_payload(reviewer_id: str) -> dict[str, Any]:
        done, total = store.progress(reviewer_id)
        item = store.next_item(reviewer_id)
        return {
            "done": item is None,
            "progress": {"done": done, "total": total},
            "item": None if item is None else item_for_reviewer(store, item),
        }

    async def api_next(request: Request) -> Response:
        reviewer = await run_in_threadpool(_reviewer, request)
        if reviewer is None:
            wait = limits.retry_after(_client(request)) if "authorization" in request.headers else 0
            return _too_many(wait) if wait else _nothing()
        payload = await run_in_threadpool(_next_payload, reviewer.reviewer_id)
        return JSONResponse(payload, headers=_headers())

    async def api_vote(request: Request) -> Response:
        reviewer = await run_in_threadpool(_reviewer, request)
        if reviewer is None:
            return _nothing()
        if not request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse(
                {"error": "send JSON (Content-Type: application/json)"}, 415, headers=_headers()
            )
        raw = await request.body()
        try:
            if len(raw) > _MAX_BODY:
                raise ValueError("body too large")
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            item_id, choice = str(body["item_id"]), str(body["choice"])
            comment = str(body.get("comment") or "")
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse(
                {"error": f"expected {{item_id, choice, comment?}} ({exc})"}, 400, headers=_headers()
            )

        def cast() -> dict[str, Any]:
            store.cast_vote(reviewer.reviewer_id, item_id, choice, comment)
            done, total = store.progress(reviewer.reviewer_id)
            return {"ok": True, "progress": {"done": done, "total": total}}

        try:
            result = await run_in_threadpool(cast)
        except DuplicateVoteError:
            return JSONResponse({"error": "you have already voted on this item"}, 409, headers=_headers())
        except StudyError as exc:
            status = 404 if "has no item" in str(exc) else 400
            return JSONResponse({"error": str(exc)}, status, headers=_headers())
        return JSONResponse(result, headers=_headers())

    async def image(request: Request) -> Response:
        reviewer = await run_in_threadpool(_reviewer, request)
        if reviewer is None:
            return _nothing()
        found = await run_in_threadpool(store.image, request.path_params["sha"])
        if found is None:
            return Response(status_code=404, headers=_headers())
        mime, data = found
        return Response(data, media_type=mime, headers=_headers())

    async def health(request: Request) -> Response:
        return Response("ok", media_type="text/plain", headers=_headers())

    return Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/api/next", api_next, methods=["GET"]),
            Route("/api/vote", api_vote, methods=["POST"]),
            Route("/image/{sha}", image, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


class ServeRefused(StudyError):
    """The review app will not start as asked (an exposed interface without TLS, a missing file)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (``127.0.0.1``, ``::1``, ``localhost``).

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve to anything
        return False


def check_serve(
    host: str, *, tls_cert: str | None = None, tls_key: str | None = None, insecure_http: bool = False
) -> None:
    """Refuse an exposed interface without TLS (unless ``insecure_http``), and half a TLS pair."""
    from pathlib import Path

    if (tls_cert is None) != (tls_key is None):
        raise ServeRefused("TLS needs both --tls-cert CERT.pem and --tls-key KEY.pem")
    for flag, f in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if f is not None and not Path(f).is_file():
            raise ServeRefused(f"{flag} {f}: no such file")
    if tls_cert is None and not insecure_http and not is_loopback(host):
        raise ServeRefused(
            f"--host {host} serves the study to the network over plain HTTP (tokens and votes readable "
            "on the wire, cookie not Secure): give --tls-cert CERT.pem --tls-key KEY.pem, or "
            "--insecure-http if a TLS proxy in front of it handles this"
        )


def serve(
    store: ReviewStore,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    insecure_http: bool = False,
) -> None:
    """Serve the study until interrupted (uvicorn; access log off). See :func:`check_serve`."""
    import uvicorn

    check_serve(host, tls_cert=tls_cert, tls_key=tls_key, insecure_http=insecure_http)
    tls = {"ssl_certfile": tls_cert, "ssl_keyfile": tls_key} if tls_cert else {}
    uvicorn.run(create_app(store), host=host, port=port, log_level="warning", access_log=False, **tls)


# -- pages ------------------------------------------------------------------------------------------
_CSS = """
:root{--fg:#1b1b1b;--muted:#555;--line:#c9c9c9;--accent:#1f5fa8;--bg:#fff;--soft:#f4f6f9}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg);
margin:0;line-height:1.45}
header{display:flex;gap:1em;align-items:center;justify-content:space-between;padding:.6em 1.2em;
border-bottom:1px solid var(--line);background:var(--soft)}
header h1{font-size:1.1em;margin:0}
main{max-width:78em;margin:0 auto;padding:1em 1.2em 3em}
progress{width:12em;height:1em}
.muted{color:var(--muted)}
.task{font-size:.85em;color:var(--muted);margin:0 0 .3em}
.question,.answer-text,.reasoning,.reference{white-space:pre-wrap;overflow-wrap:anywhere}
.question{font-size:1.05em;margin:.2em 0 .8em}
figure{margin:0 0 1em}
figure img{max-width:100%;max-height:24em;border:1px solid var(--line);background:#000}
.reference{background:var(--soft);border-left:4px solid var(--accent);padding:.5em .8em;margin:0 0 1em}
.answers{display:grid;grid-template-columns:repeat(auto-fit,minmax(20em,1fr));gap:1em;margin-bottom:1em}
.card{border:1px solid var(--line);border-radius:6px;padding:.8em 1em}
.card h2{font-size:1em;margin:0 0 .4em}
.tag{display:inline-block;font-family:ui-monospace,monospace;font-size:.85em;background:var(--soft);
border:1px solid var(--line);border-radius:4px;padding:0 .4em;margin-bottom:.4em}
details{margin-top:.6em}
.choices{display:flex;flex-wrap:wrap;gap:.5em;margin:.5em 0}
button{font:inherit;padding:.45em .9em;border:1px solid var(--line);border-radius:6px;background:#fff;
cursor:pointer}
button[aria-pressed=true]{background:var(--accent);color:#fff;border-color:var(--accent)}
button:focus-visible,input:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
button.primary{background:var(--accent);color:#fff;border-color:var(--accent)}
button:disabled{opacity:.5;cursor:default}
kbd{font-family:ui-monospace,monospace;border:1px solid var(--line);border-bottom-width:2px;
border-radius:3px;padding:0 .3em;font-size:.85em;background:#fafafa;color:#222}
label{display:block;margin:.6em 0 .2em}
input[type=text],input[type=password]{font:inherit;width:100%;max-width:40em;padding:.4em;
border:1px solid var(--line);border-radius:4px}
.status{min-height:1.4em;margin:.5em 0}
.error{color:#a01818}
.login{max-width:30em;margin:4em auto;padding:0 1em}
"""


def _page(nonce: str, title: str, body: str, script: str = "") -> str:
    js = f"<script nonce='{nonce}'>{script}</script>" if script else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style nonce='{nonce}'>{_CSS}</style></head>"
        f"<body>{body}{js}</body></html>"
    )


def _login_page(nonce: str, error: str = "") -> str:
    err = f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else ""
    body = (
        "<main class='login'><h1>Clinician review</h1>"
        "<p>Sign in with the access token the study owner gave you.</p>"
        f"{err}<form method='post' action='login'>"
        "<label for='token'>Access token</label>"
        "<input id='token' name='token' type='password' autocomplete='off' required autofocus>"
        "<p><button class='primary' type='submit'>Sign in</button></p></form></main>"
    )
    return _page(nonce, "Clinician review: sign in", body)


def _review_page(nonce: str, kind: str, buttons: tuple[tuple[str, str, str], ...], name: str) -> str:
    title = "Which answer is better?" if kind == "pairwise" else "Is this answer correct?"
    btns = "".join(
        f"<button type='button' data-choice='{c}' data-key='{k}' aria-pressed='false'>"
        f"<kbd>{k.upper() if k.isalpha() else k}</kbd> {html.escape(label)}</button>"
        for c, k, label in buttons
    )
    keys = ", ".join(f"{k.upper() if k.isalpha() else k} {label.lower()}" for _, k, label in buttons)
    body = (
        "<header><h1>Clinician review</h1>"
        "<div><label class='muted' for='progress' id='progress-text'>Loading…</label> "
        "<progress id='progress' max='1' value='0'></progress></div>"
        f"<form method='post' action='logout'><span class='muted'>{html.escape(name)}</span> "
        "<button type='submit'>Sign out</button></form></header>"
        "<main><div id='item' hidden>"
        "<p class='task' id='task'></p><div class='question' id='question'></div>"
        "<figure id='figure' hidden><img id='image' alt='Image for this question'></figure>"
        "<div id='reference-box' hidden><h2 class='task'>Reference answer</h2>"
        "<div class='reference' id='reference'></div></div>"
        "<section class='answers' id='answers' aria-label='Answers'></section>"
        f"<fieldset><legend>{html.escape(title)}</legend><div class='choices' role='group'>{btns}</div>"
        "<label for='comment'>Comment (optional)</label>"
        "<input id='comment' type='text' maxlength='5000' autocomplete='off'>"
        "<p><button class='primary' id='submit' type='button' disabled><kbd>Enter</kbd> Submit vote</button></p>"
        f"<p class='muted'>Keys: {html.escape(keys)}; Enter submits.</p></fieldset></div>"
        "<div id='finished' hidden><h2>All done</h2><p>You have reviewed every item of this study. "
        "Thank you.</p></div>"
        "<p class='status' id='status' role='status' aria-live='polite'></p></main>"
    )
    return _page(nonce, "Clinician review", body, _SCRIPT)


_SCRIPT = r"""
(function () {
  var current = null, choice = null, busy = false;
  var $ = function (id) { return document.getElementById(id); };
  var buttons = Array.prototype.slice.call(document.querySelectorAll('button[data-choice]'));
  var keys = {};
  buttons.forEach(function (b) {
    keys[b.dataset.key] = b.dataset.choice;
    b.addEventListener('click', function () { select(b.dataset.choice); });
  });
  function status(text, isError) { var s = $('status'); s.textContent = text; s.className = 'status' + (isError ? ' error' : ''); }
  function select(c) {
    choice = c;
    buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b.dataset.choice === c)); });
    $('submit').disabled = !current || !choice;
  }
  function progress(p) {
    $('progress').max = Math.max(p.total, 1); $('progress').value = p.done;
    $('progress-text').textContent = p.done + ' of ' + p.total + ' reviewed';
  }
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function render(d) {
    progress(d.progress);
    current = d.item; select(null); $('comment').value = '';
    if (d.done) { $('item').hidden = true; $('finished').hidden = false; return; }
    var it = d.item;
    $('finished').hidden = true; $('item').hidden = false;
    $('task').textContent = 'Task: ' + it.task;
    $('question').textContent = it.question;
    if (it.image) { $('image').src = it.image; $('figure').hidden = false; } else { $('image').removeAttribute('src'); $('figure').hidden = true; }
    if (it.reference != null) { $('reference').textContent = it.reference; $('reference-box').hidden = false; } else { $('reference-box').hidden = true; }
    var box = $('answers'); box.textContent = '';
    it.answers.forEach(function (a) {
      var card = el('article', 'card'); card.setAttribute('aria-label', a.label);
      card.appendChild(el('h2', null, a.label));
      card.appendChild(el('div', 'tag', a.modality ? 'Modality: ' + a.modality : 'Modality: none given'));
      card.appendChild(el('div', 'answer-text', a.answer || '(empty answer)'));
      if (!a.answer_block) card.appendChild(el('p', 'muted', 'No <answer> block: text after the reasoning.'));
      if ('reasoning' in a) {
        var det = el('details'); det.appendChild(el('summary', null, 'Reasoning'));
        det.appendChild(el('div', 'reasoning', a.reasoning || '(no reasoning)')); card.appendChild(det);
      }
      box.appendChild(card);
    });
    window.scrollTo(0, 0);
  }
  function request(path, opts) {
    opts = opts || {}; opts.credentials = 'same-origin';
    return fetch(path, opts).then(function (r) {
      if (r.status === 401) { window.location.reload(); throw new Error('signed out'); }
      return r;
    });
  }
  function loadNext() {
    return request('api/next').then(function (r) { return r.json(); }).then(render)
      .catch(function (e) { status('Could not load the next item: ' + e.message, true); });
  }
  function submit() {
    if (!current || !choice || busy) return;
    busy = true; $('submit').disabled = true; status('Saving…');
    request('api/vote', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({item_id: current.item_id, choice: choice, comment: $('comment').value})})
      .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, d: d}; }); })
      .then(function (res) {
        if (res.ok) { status('Vote saved.'); return loadNext(); }
        status(res.d.error || 'The vote was not saved.', true);
        if (res.d.error && res.d.error.indexOf('already voted') >= 0) return loadNext();
      })
      .catch(function (e) { status('The vote was not saved: ' + e.message, true); })
      .then(function () { busy = false; $('submit').disabled = !current || !choice; });
  }
  $('submit').addEventListener('click', submit);
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var typing = e.target && e.target.tagName === 'INPUT';
    if (e.key === 'Enter') { if (current && choice) { e.preventDefault(); submit(); } return; }
    if (typing) return;
    var c = keys[e.key.toLowerCase()];
    if (c && current) { e.preventDefault(); select(c); }
  });
  loadNext();
})();
"""
