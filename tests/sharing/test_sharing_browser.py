"""Sharing in headless Chromium: Share a chat reply, open the link signed out, sandboxed HTML, revoke from the list."""
from __future__ import annotations

import re
from typing import Any

import pytest

from apps.sharing import services
from apps.sharing.models import Artifact
from tests.browser import BrowserSession
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]

# Shared HTML that tries to read the platform's cookies and call its API with the visitor's session.
PROBE = """<!doctype html><html><body><h1>Quarterly report</h1><p id="cookie">pending</p><p id="api">pending</p>
<script>
try { document.getElementById("cookie").textContent = "read:" + document.cookie; }
catch (e) { document.getElementById("cookie").textContent = "blocked:" + e.name; }
fetch("/api/v1/artifacts", {credentials: "include"})
  .then(r => { document.getElementById("api").textContent = "status:" + r.status; })
  .catch(e => { document.getElementById("api").textContent = "blocked:" + e.name; });
</script></body></html>"""


def test_share_a_reply_open_it_signed_out_and_revoke(fake_models: Any, browser_page: Any) -> None:
    user = UserFactory(email="sharer@example.com")
    page = browser_page.page
    browser_page.login(user.email)

    # Chat, then Share the reply: a link to copy appears under it.
    browser_page.goto("/chat/")
    page.select_option("#model-select", "fake-openai")
    page.fill("#prompt", "Plan a trip #words=8")
    page.click("#send")
    page.wait_for_selector(".message-assistant[data-status=complete][data-message-id]")
    page.click(".message-assistant .btn-share")
    page.wait_for_selector(".message-assistant .share-box input")
    url = page.input_value(".message-assistant .share-box input")
    token = re.search(r"/s/([A-Za-z0-9_-]+)$", url).group(1)  # type: ignore[union-attr]
    artifact = Artifact.objects.get(owner=user)
    assert artifact.content_type == "text/markdown" and artifact.content.split() == [f"w{i}" for i in range(8)]
    browser_page.screenshot("sharing-chat-share")

    # Signed out (a fresh browser context): the link shows the reply.
    anonymous = page.context.browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        visitor = anonymous.new_page()
        visitor.goto(f"{browser_page.base_url}/s/{token}", wait_until="load")
        visitor.wait_for_selector("#shared-markdown:not([hidden])")
        assert visitor.inner_text("#shared-markdown").split() == [f"w{i}" for i in range(8)]
        assert "sharer@example.com" not in visitor.content()
        BrowserSession(page=visitor, base_url=browser_page.base_url, server=browser_page.server).check_page("sharing-public-page")
    finally:
        anonymous.close()

    # Shared HTML runs sandboxed: signed in, its script can neither read cookies nor use the session.
    _html, html_token = services.artifact_create(user=user, title="Quarterly report", content_type="text/html", content=PROBE)
    browser_page.goto(f"/s/{html_token}")
    frame = page.frame_locator("#shared-frame")
    frame.locator("#cookie:not(:text('pending'))").wait_for()
    frame.locator("#api:not(:text('pending'))").wait_for()
    assert frame.locator("#cookie").inner_text() == "blocked:SecurityError"
    assert frame.locator("#api").inner_text() in ("blocked:TypeError", "status:401", "status:403")
    assert page.evaluate("document.cookie.includes('csrftoken')")  # the page itself still has its cookies
    browser_page.check_page("sharing-html-sandboxed")

    # The list of links: both are there; revoke the reply's, and its link is gone.
    browser_page.nav("Shared links")
    page.wait_for_url(re.compile(r"/shared/$"))
    assert page.locator("#shared-links tbody tr").count() == 2
    browser_page.check_page("sharing-list")
    browser_page.assert_fits_phone()
    page.click(f"#shared-links tr[data-id='{artifact.id}'] .btn-revoke")
    page.wait_for_url(re.compile(r"/shared/$"))
    assert page.locator("#shared-links tbody tr").count() == 1
    response = page.goto(f"{browser_page.base_url}/s/{token}")
    assert response is not None and response.status == 404
