"""End to end: Swagger UI's OAuth2 password flow and "Try it out", its OAuth2 redirect popup
and ReDoc in a real browser, under their Content-Security-Policy with no violation.

Needs Debian's chromium at /usr/bin/chromium (`.ci/install-chromium.sh`) and the
fixtures `api_base_url` (a running local gateway with all functions) and
`registered_user` from `tests/conftest.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# Skip (not error) where only the runtime requirements are installed.
pytest.importorskip("playwright.sync_api", reason="playwright not installed (requirements-dev.txt)")
from playwright.sync_api import ConsoleMessage, Locator, Page, Request, Response, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# No network beyond the gateway: the page must work offline / behind firewalls.
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
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
NOTE = {"title": "From Swagger", "content": "hi"}
TIMEOUT_MS = 30_000
# ReDoc's sidebar always shows this logo (no option turns it off); /redoc's img-src refuses
# it, so the page stays offline: the one refusal its policy is there to make.
REDOC_REMOTE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (run .ci/install-chromium.sh)",
    ),
]


@pytest.fixture
def page() -> Iterator[Page]:
    """A fresh headless chromium page (Playwright driving the system browser)."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


# Every violation a page of the context sees (popups too), whether it blocked or was only
# reported: the policy event, before any of the page's own scripts run.
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => window.reportCspViolation(
  `${e.effectiveDirective} refused ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`
));
"""


@dataclass
class PolicyWatch:
    """What the browser said of the pages' Content-Security-Policy: each document loaded with
    its policy, and every violation (the policy events and chromium's console messages)."""

    documents: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def on_response(self, response: Response) -> None:
        if response.request.resource_type == "document":
            policy = response.headers.get("content-security-policy", "")
            self.documents[urlsplit(response.url).path] = policy

    def on_violation(self, description: str) -> None:
        self.violations.append(description)

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(f"console: {message.text}")

    def assert_enforced_without_violation(self, *paths: str, allowed: str = "") -> None:
        """Each of `paths` was loaded with a policy that limits scripts, and nothing broke it
        (but a refusal of the URL `allowed`, one the policy is there to refuse)."""
        for path in paths:
            assert "script-src 'self'" in self.documents.get(path, ""), (path, self.documents)
        unexpected = [v for v in self.violations if not (allowed and allowed in v)]
        assert unexpected == [], "\n".join(unexpected)


@pytest.fixture
def policy(page: Page) -> PolicyWatch:
    watch = PolicyWatch()
    context = page.context
    context.expose_function("reportCspViolation", watch.on_violation)
    context.add_init_script(_REPORT_VIOLATIONS)
    context.on("response", watch.on_response)
    context.on("console", watch.on_console)
    return watch


def recorded(page: Page) -> tuple[list[Request], list[str]]:
    """The requests `page` makes and the errors its scripts throw, from now on."""
    requests: list[Request] = []
    # A lambda on purpose: Playwright cannot register a builtin method as a listener.
    page.on("request", lambda r: requests.append(r))  # noqa: PLW0108
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return requests, errors


def authorize(page: Page, docs_url: str, username: str, password: str) -> None:
    """Open Swagger UI at docs_url and log in through its OAuth2 password dialog."""
    page.goto(docs_url)
    # Rendered once the spec is loaded: the operations and the Authorize button.
    page.locator(".swagger-ui .opblock").first.wait_for()

    page.locator(".swagger-ui .scheme-container button.authorize").click()
    modal = page.locator(".modal-ux")
    modal.locator("#oauth_username").fill(username)
    modal.locator("#oauth_password").fill(password)
    modal.locator("button.authorize").click()
    # Swagger UI swaps Authorize for Logout once the token request succeeded,
    # or shows the error; fail with that text rather than a bare timeout.
    logout = modal.locator("button", has_text="Logout")
    auth_error = modal.locator(".errors")
    logout.or_(auth_error).first.wait_for()
    if not logout.is_visible():
        raise AssertionError(f"Swagger UI authorization failed: {auth_error.inner_text()}")
    modal.locator("button.btn-done").click()
    modal.wait_for(state="detached")


def open_for_trying(page: Page, path: str) -> Locator:
    """The POST operation of `path`, expanded and in "Try it out" mode."""
    op = page.locator(f'.opblock.opblock-post:has(.opblock-summary-path[data-path="{path}"])').first
    op.locator(".opblock-summary").first.click()
    # tryItOutEnabled puts operations in edit mode already; click only if not.
    # With a request body, edit mode adds a "Reset" button of the same class after this one.
    try_out = op.locator("button.try-out__btn").first
    try_out.wait_for()
    if try_out.inner_text().strip().lower() == "try it out":
        try_out.click()
    return op


def execute(op: Locator) -> str:
    """Execute the operation; the status Swagger UI shows."""
    op.locator("button.execute").click()
    status = op.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    return status.inner_text().strip()


def authorize_and_create_note(page: Page, docs_url: str, username: str, password: str) -> str:
    """Drive Swagger UI at docs_url; return the status shown for POST /notes."""
    authorize(page, docs_url, username, password)
    op = open_for_trying(page, "/notes")
    op.locator("textarea.body-param__text").fill(json.dumps(NOTE))
    return execute(op)


def test_swagger_password_flow_and_try_it_out(
    page: Page,
    policy: PolicyWatch,
    api_base_url: str,
    registered_user: dict[str, str],
    tmp_path: Path,
) -> None:
    requests, errors = recorded(page)

    try:
        status = authorize_and_create_note(
            page,
            f"{api_base_url.rstrip('/')}/docs",
            registered_user["email"],
            registered_user["password"],
        )
    except Exception:
        page.screenshot(path=str(tmp_path / "swagger_failure.png"), full_page=True)
        raise

    assert re.match(r"^201\b", status), f"POST /notes showed {status!r}"
    outside = [
        r.url
        for r in requests
        if urlsplit(r.url).scheme in ("http", "https", "ws", "wss")
        and urlsplit(r.url).hostname not in LOOPBACK
    ]
    assert outside == [], f"requests left the machine: {outside}"
    notes = [r for r in requests if r.method == "POST" and urlsplit(r.url).path.endswith("/notes")]
    assert notes and notes[-1].headers.get("authorization", "").startswith("Bearer ")
    assert errors == [], f"page errors: {errors}"
    policy.assert_enforced_without_violation(f"{urlsplit(api_base_url).path.rstrip('/')}/docs")


def test_swagger_attaches_an_image_end_to_end(
    page: Page,
    policy: PolicyWatch,
    api_base_url: str,
    registered_user: dict[str, str],
    tmp_path: Path,
) -> None:
    import httpx

    from tests.utils.images import encode, photographed_page

    with httpx.Client(base_url=api_base_url, timeout=30) as api:
        tokens = api.post(
            "/auth/token",
            data={"username": registered_user["email"], "password": registered_user["password"]},
        ).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        note = api.post("/notes", json={"title": "scan"}, headers=headers).json()
        image = tmp_path / "page.jpg"
        image.write_bytes(encode(photographed_page(size=(600, 400))))
        try:
            authorize(
                page,
                f"{api_base_url.rstrip('/')}/docs",
                registered_user["email"],
                registered_user["password"],
            )
            op = open_for_trying(page, "/notes/{note_id}/attachments/upload")
            op.locator('tr[data-param-name="note_id"] input').fill(note["id"])
            op.locator('input[type="file"]').set_input_files(str(image))
            status = execute(op)
        except Exception:
            page.screenshot(path=str(tmp_path / "swagger_failure.png"), full_page=True)
            raise
        assert re.match(r"^201\b", status), f"upload showed {status!r}"
        attachments = api.get(f"/notes/{note['id']}/attachments", headers=headers).json()
        assert [(a["filename"], a["content_type"]) for a in attachments] == [
            ("page.jpg", "image/jpeg")
        ]
    policy.assert_enforced_without_violation(f"{urlsplit(api_base_url).path.rstrip('/')}/docs")


# What Swagger UI sets up before it opens the redirect page of an implicit flow, with a
# callback that keeps what the page hands back.
_AWAIT_REDIRECT = """
window.swaggerUIRedirectOauth2 = {
  state: "s1",
  redirectUrl: "unused",
  auth: {name: "implicit", code: null, schema: {get: () => "implicit"}},
  callback: (result) => { window.oauthResult = result; },
  errCb: (error) => { window.oauthError = error; },
};
"""


def test_swagger_oauth2_redirect_page_hands_back_the_token(
    page: Page, policy: PolicyWatch, api_base_url: str
) -> None:
    """The popup an OAuth2 redirect flow lands in runs its script under its own policy."""
    base = api_base_url.rstrip("/")
    page.goto(f"{base}/docs")
    page.locator(".swagger-ui .opblock").first.wait_for()
    page.evaluate(_AWAIT_REDIRECT)
    with page.expect_popup() as opened:
        page.evaluate(
            f"window.open({json.dumps(base + '/docs/oauth2-redirect')} + "
            "'#access_token=t1&token_type=bearer&state=s1')"
        )
    opened.value.wait_for_event("close")
    result = page.evaluate("window.oauthResult")
    assert result and result["token"]["access_token"] == "t1" and result["isValid"], result
    prefix = urlsplit(api_base_url).path.rstrip("/")
    policy.assert_enforced_without_violation(f"{prefix}/docs", f"{prefix}/docs/oauth2-redirect")


def test_redoc_renders_and_searches_under_its_policy(
    page: Page, policy: PolicyWatch, api_base_url: str, tmp_path: Path
) -> None:
    """ReDoc renders the operations, styled, and its search (a web worker) finds one."""
    requests, errors = recorded(page)
    try:
        page.goto(f"{api_base_url.rstrip('/')}/redoc")
        page.locator("[data-section-id^='tag/'], [data-section-id^='operation/']").first.wait_for()
        # Typed, as ReDoc searches on each key; the index answers from its worker.
        page.locator("input[placeholder='Search...']").press_sequentially("attachment")
        page.locator("[data-role='search:results'] li").first.wait_for()
        # Styled: the sidebar (a styled component) is laid out apart from the content.
        sidebar = page.locator(".menu-content").first
        assert sidebar.evaluate("e => getComputedStyle(e).position") in ("sticky", "fixed")
    except Exception:
        page.screenshot(path=str(tmp_path / "redoc_failure.png"), full_page=True)
        raise
    # Playwright reports a request the policy refused too: it fails ("csp") and never leaves.
    sent = [r for r in requests if r.failure != "csp"]
    outside = [r.url for r in sent if urlsplit(r.url).hostname not in (LOOPBACK | {None})]
    assert outside == [], f"requests left the machine: {outside}"
    assert errors == [], f"page errors: {errors}"
    policy.assert_enforced_without_violation(
        f"{urlsplit(api_base_url).path.rstrip('/')}/redoc", allowed=REDOC_REMOTE_LOGO
    )
