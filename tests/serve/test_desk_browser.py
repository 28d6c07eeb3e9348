"""The review desk: its login and headers through TestClient, and a reviewer's work in real headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from serve_builders import Uvicorn, bearer, classifier_folder, keys

from understudy.serve.app import create_app
from understudy.serve.desk import LOCK_SECONDS, MAX_FAILURES

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NAME, PASSWORD = "alice", "correct horse battery"
DESK = {"x-understudy-desk": "1"}
XSS = "<img src=x onerror=alert(1)>"
TEXTS = ["the coffee was really great", XSS, "the box was broken and the tea stale", "lovely fresh snack", "bland tea"]
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "review-desk.png"


def desk_server(tmp_path):
    """(app, client key, reviewer key) for a static student that defers every text, with reviewer alice."""
    store, client_key, reviewer_key = keys(tmp_path)
    store.add_reviewer(NAME, PASSWORD)
    app = create_app(str(classifier_folder(tmp_path / "student", defer=True)), keys=store, name="reviews-demo")
    return app, client_key, reviewer_key


def queue(http, client_key: str, texts: list[str]) -> list[int]:
    answer = http.post("/v1/classify", json={"texts": texts}, headers=bearer(client_key))
    assert answer.status_code == 200, answer.text
    return [r["review_id"] for r in answer.json()["results"]]


def log_in(api: TestClient, name: str = NAME, password: str = PASSWORD):
    return api.post("/review/login", json={"name": name, "password": password}, headers=DESK)


def check_page_headers(response) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


# --- without a browser --------------------------------------------------------------------------------------


def test_login_page_is_public_holds_no_data_and_sends_strict_headers(tmp_path):
    app, client_key, _ = desk_server(tmp_path)
    api = TestClient(app)
    queue(api, client_key, ["a secret complaint about the tea"])
    page = api.get("/review/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    check_page_headers(page)
    assert "secret complaint" not in page.text and "<script>" not in page.text  # no inline script, no data
    assert 'src="/review/static/login.js"' in page.text


def test_the_desk_redirects_to_login_without_a_valid_session(tmp_path):
    api = TestClient(desk_server(tmp_path)[0], follow_redirects=False)
    for cookies in ({}, {"understudy_session": "not-a-session"}):
        api.cookies.clear()
        api.cookies.update(cookies)
        answer = api.get("/review")
        assert answer.status_code == 303 and answer.headers["location"] == "/review/login"
    assert api.get("/review/me").status_code == 401


def test_a_bad_name_or_password_gets_one_plain_401_and_no_cookie(tmp_path):
    api = TestClient(desk_server(tmp_path)[0])
    wrong_password, unknown_name = log_in(api, password="not the password"), log_in(api, name="mallory")
    assert wrong_password.status_code == unknown_name.status_code == 401
    assert wrong_password.json() == unknown_name.json()
    assert wrong_password.json()["error"]["message"] == "wrong name or password"
    assert "set-cookie" not in wrong_password.headers and not api.cookies
    # Another site's form cannot send the desk header, so it cannot log anyone in.
    assert api.post("/review/login", json={"name": NAME, "password": PASSWORD}).status_code == 403


def test_repeated_failures_lock_the_name_for_a_while(tmp_path):
    app = desk_server(tmp_path)[0]
    api = TestClient(app)
    now = [1000.0]
    app.state.desk_throttle.clock = lambda: now[0]
    for _ in range(MAX_FAILURES):
        assert log_in(api, password="guess guess guess").status_code == 401
    locked = log_in(api)  # the right password, but too soon
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= LOCK_SECONDS
    assert "too many failed log-ins" in locked.json()["error"]["message"]
    assert log_in(api, name="bob").status_code == 401  # other names are not locked (bob is unknown: 401)
    now[0] += LOCK_SECONDS + 1
    assert log_in(api).status_code == 200


def test_the_session_cookie_is_httponly_strict_and_site_wide(tmp_path):
    api = TestClient(desk_server(tmp_path)[0])
    answer = log_in(api)
    assert answer.status_code == 200 and answer.json() == {"reviewer": NAME}
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("understudy_session=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    page = api.get("/review")
    assert page.status_code == 200 and 'src="/review/static/desk.js"' in page.text
    check_page_headers(page)
    assert api.get("/review/me").json() == {"reviewer": NAME, "model": "reviews-demo", "labels": ["great", "other"]}


def test_desk_files_are_served_and_the_script_never_writes_html(tmp_path):
    api = TestClient(desk_server(tmp_path)[0])
    js = api.get("/review/static/desk.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    check_page_headers(js)
    assert api.get("/review/static/desk.css").headers["content-type"].startswith("text/css")
    for name in ("desk.js", "login.js"):
        source = api.get(f"/review/static/{name}").text
        assert "textContent" in source or name == "login.js"
        assert not any(bad in source for bad in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"))
    assert api.get("/review/static/desk.py").status_code == 404
    assert api.get("/review/static/..%2fdesk.py").status_code == 404


def test_a_change_with_the_cookie_needs_the_desk_header(tmp_path):
    app, client_key, _ = desk_server(tmp_path)
    api = TestClient(app)
    [item] = queue(api, client_key, ["the tea was bland"])
    log_in(api)
    refused = api.post(f"/v1/review/{item}", json={"label": "other"})
    assert refused.status_code == 403 and "x-understudy-desk" in refused.json()["error"]["message"]
    assert api.get("/v1/review").json()["pending"] == 1  # reading needs no header
    assert api.post(f"/v1/review/{item}", json={"label": "other"}, headers=DESK).status_code == 200
    assert api.get("/v1/review").json()["pending"] == 0


def test_a_client_key_cannot_read_or_decide_the_queue(tmp_path):
    app, client_key, _ = desk_server(tmp_path)
    api = TestClient(app)
    [item] = queue(api, client_key, ["the tea was bland"])
    assert api.post(f"/v1/review/{item}", json={"label": "other"}, headers=bearer(client_key)).status_code == 403
    assert api.get("/v1/review", headers=bearer(client_key)).status_code == 403


def test_logging_out_ends_the_session(tmp_path):
    api = TestClient(desk_server(tmp_path)[0], follow_redirects=False)
    token = log_in(api).cookies["understudy_session"]
    assert api.post("/review/logout", headers=DESK).status_code == 200
    api.cookies.set("understudy_session", token)  # even a copy of the old cookie opens nothing now
    assert api.get("/review").status_code == 303
    assert api.get("/v1/review").status_code == 401


# --- in Chromium ------------------------------------------------------------------------------------------


def chromium(playwright):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium for this test")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: run `make test`, which installs requirements-dev.txt")
    return sync_playwright()


def test_a_reviewer_works_through_the_queue_in_chromium(tmp_path):
    started = time.monotonic()
    app, client_key, reviewer_key = desk_server(tmp_path)
    with Uvicorn(app) as url, httpx.Client(base_url=url, timeout=30) as http, sync_playwright() as pw:
        ids = queue(http, client_key, TEXTS)
        review = dict(headers=bearer(reviewer_key))
        browser = chromium(pw)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 640}, accept_downloads=True)
            page = context.new_page()
            problems: list[str] = []  # script errors, CSP refusals, alert() from a text
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on(
                "console",
                lambda m: m.type == "error" and "Failed to load resource" not in m.text and problems.append(m.text),
            )

            # Not logged in: the desk sends the browser to the login page. A wrong password says so.
            page.goto(url + "/review")
            assert page.url == url + "/review/login"
            page.get_by_label("Name").fill(NAME)
            page.get_by_label("Password").fill("not the password")
            page.get_by_role("button", name="Log in").click()
            page.wait_for_selector("#message:has-text('Wrong name or password')")
            page.get_by_label("Password").fill(PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(url + "/review")
            page.wait_for_selector("body[data-ready='1']")

            # The first item, with the model's suggestion and confidence, and the whole queue.
            first = http.get("/v1/review", **review).json()["items"][0]
            assert first["id"] == ids[0]
            assert page.text_content("#model") == "reviews-demo"
            assert page.text_content("#pending") == str(len(TEXTS))
            assert page.text_content("#text") == TEXTS[0]
            assert page.text_content("#suggested") == first["suggested"]
            assert page.text_content("#confidence") == f"{first['confidence'] * 100:.1f}%"
            assert page.locator("#queue li").count() == len(TEXTS)
            assert page.locator("#probs tbody tr").count() == 2

            # j / k move between items; Enter accepts the suggestion: the item leaves the queue.
            page.keyboard.press("j")
            assert page.text_content("#text") == XSS
            page.keyboard.press("k")
            assert page.text_content("#text") == TEXTS[0]
            page.keyboard.press("Enter")
            page.wait_for_selector(f"#pending:text-is('{len(TEXTS) - 1}')")
            assert page.locator(f"#queue button[data-id='{ids[0]}']").count() == 0
            assert f"#{ids[0]} accepted" in page.text_content("#status")
            on_server = http.get("/v1/review", **review).json()
            assert on_server["pending"] == len(TEXTS) - 1 and ids[0] not in [i["id"] for i in on_server["items"]]

            # A text that is HTML shows as text: no image element, no alert. A number key corrects the suggestion.
            assert page.text_content("#text") == XSS
            assert page.locator("#text img, #queue img").count() == 0
            second = on_server["items"][0]
            fixed = next(label for label in on_server["labels"] if label != second["suggested"])
            page.keyboard.press(str(on_server["labels"].index(fixed) + 1))
            page.wait_for_selector(f"#pending:text-is('{len(TEXTS) - 2}')")
            assert f"#{ids[1]} corrected to" in page.text_content("#status")
            assert page.text_content("#text") == TEXTS[2]
            assert page.text_content("#decided") == "2"
            page.screenshot(path=str(tmp_path / "desk.png"))

            # The audit log names the reviewer who was logged in, for both decisions.
            entries = http.get("/v1/review/audit", **review).json()["entries"]
            assert [(e["item"], e["reviewer"], e["before"], e["after"]) for e in entries] == [
                (ids[0], NAME, first["suggested"], first["suggested"]),
                (ids[1], NAME, second["suggested"], fixed),
            ]

            # The export links download the corrections: CSV and Label Studio JSON.
            with page.expect_download() as download:
                page.click("#export-csv")
            rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
            assert {(r["text"], r["label"], r["reviewer"]) for r in rows} == {
                (TEXTS[0], first["suggested"], NAME),
                (XSS, fixed, NAME),
            }
            tasks = json.loads(page.request.get(url + "/v1/review/export?format=label-studio").text())
            assert {t["data"]["text"] for t in tasks} == {TEXTS[0], XSS}

            # s skips (the item stays); when the session ends, the next key goes back to the login page.
            page.keyboard.press("s")
            assert page.text_content("#text") == TEXTS[3] and page.text_content("#pending") == str(len(TEXTS) - 2)
            context.clear_cookies()
            page.keyboard.press("a")  # not Enter: focus is still on the export link, where Enter follows it
            page.wait_for_url(url + "/review/login?ended=1")
            assert "session has ended" in page.text_content("#message")
            assert http.get("/v1/review", **review).json()["pending"] == len(TEXTS) - 2  # nothing decided then

            # Log in again, log out with the button: the desk is closed again.
            page.get_by_label("Name").fill(NAME)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_selector("body[data-ready='1']")
            page.get_by_role("button", name="Log out").click()
            page.wait_for_url(url + "/review/login")
            page.goto(url + "/review")
            assert page.url == url + "/review/login"
            assert problems == []
        finally:
            browser.close()
    shot = tmp_path / "desk.png"
    assert shot.stat().st_size > 10_000
    if os.environ.get("UNDERSTUDY_SAVE_SCREENSHOT"):  # refresh the README's picture only when asked
        shutil.copyfile(shot, README_SHOT)
    assert time.monotonic() - started < 120  # the whole browser test stays quick
