"""/docs: Swagger UI from the installed package (offline), the spec behind a key, and "Try it out" in Chromium."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from serve_builders import Uvicorn, bearer, classifier_folder, keys
from test_desk_browser import chromium, sync_playwright

from understudy.serve.app import create_app

NAME = "reviews-student"


@pytest.fixture
def served(tmp_path):
    store, client_key, _ = keys(tmp_path)
    app = create_app(str(classifier_folder(tmp_path / "student", defer=True)), keys=store, name=NAME)
    return app, client_key


def test_the_docs_page_and_its_assets_are_public_and_come_from_the_installed_package(served):
    from swagger_ui_bundle import swagger_ui_path

    api = TestClient(served[0])
    page = api.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)  # nothing from another site: no CDN
    assert "<script>" not in page.text  # no inline script: the CSP forbids it
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "connect-src 'self';" in csp and "unsafe" not in csp
    sources = re.findall(r"(?:src|href)=\"(/docs/static/[^\"]+)\"", page.text)
    assert {"/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css", "/docs/static/docs.js"} <= set(sources)
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        served_file = api.get(f"/docs/static/{name}")
        assert served_file.status_code == 200 and served_file.content == (swagger_ui_path / name).read_bytes()
    assert api.get("/docs/static/nothing.js").json()["error"]["message"] == "no docs file named 'nothing.js'"


def test_the_spec_needs_a_key_and_declares_the_bearer_scheme(served):
    app, client_key = served
    api = TestClient(app)
    refused = api.get("/openapi.json")
    assert refused.status_code == 401 and "api-keys create" in refused.json()["error"]["message"]
    spec = api.get("/openapi.json", headers=bearer(client_key)).json()
    assert spec["info"]["title"].endswith(NAME)
    scheme = spec["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer") and "api-keys create" in scheme["description"]
    assert spec["paths"]["/v1/classify"]["post"]["security"] == [{"bearer": []}]
    assert spec["paths"]["/v1/review"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/health"]["get"]  # open, and the spec says so
    # the example "Try it out" fills in is a request the server takes
    schema = spec["components"]["schemas"]["ClassifyRequest"]
    for example in schema["examples"]:
        answer = api.post("/v1/classify", json=example, headers=bearer(client_key))
        assert answer.status_code == 200, (example, answer.text)


def test_the_docs_render_offline_in_chromium_and_try_it_out_sends_the_key(served):
    app, client_key = served
    with Uvicorn(app) as url, sync_playwright() as pw:
        browser = chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            elsewhere: list[str] = []  # any request off this server: a CDN, a validator badge, a font

            def only_here(route):
                if route.request.url.startswith(url + "/"):
                    return route.continue_()
                elsewhere.append(route.request.url)
                return route.abort()

            page.route("**/*", only_here)
            problems: list[str] = []  # script errors and CSP refusals
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda m: m.type == "error" and "Failed to load resource" not in m.text and problems.append(m.text),
            )
            page.goto(url + "/docs")

            # A wrong key: the server's own message, and no Swagger UI.
            page.get_by_label("API key").fill("us_not-a-key")
            page.get_by_role("button", name="Show the API").click()
            page.wait_for_selector("#message:has-text('not known to this server')")
            assert page.locator(".swagger-ui .opblock").count() == 0

            # The right key: the endpoints, from the spec it fetched with that key.
            page.get_by_label("API key").fill(client_key)
            page.get_by_role("button", name="Show the API").click()
            page.wait_for_selector("body[data-ready='1']")
            classify = page.locator(".opblock-summary-path[data-path='/v1/classify']")
            classify.wait_for()
            assert page.locator(".opblock-summary-path[data-path='/v1/models']").count() == 1
            assert NAME in page.text_content(".swagger-ui .info .title")

            # "Try it out" with the example body: the server answers 200, so the key went with it.
            classify.click()
            page.get_by_role("button", name="Try it out").click()
            page.get_by_role("button", name="Execute").click()
            code = page.locator(".live-responses-table .response .response-col_status").first
            code.wait_for()
            assert code.text_content().strip() == "200"
            body = page.text_content(".live-responses-table .response .microlight")
            assert f'"model": "{NAME}"' in body and '"results"' in body
            stored = page.evaluate("() => JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie])")
            assert client_key not in stored  # the key stays in the page's memory, not in the browser
            assert elsewhere == [] and problems == []
        finally:
            browser.close()
