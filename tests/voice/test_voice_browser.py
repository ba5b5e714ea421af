"""The voice page in headless Chromium with a fake microphone: hold to talk, the transcript and the reply, its speech received."""
from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from apps.chat.models import Message
from apps.voice.models import VoiceSession
from tests.browser import CHROMIUM_ARGS, BrowserSession, require_chromium
from tests.factories import UserFactory
from tests.fakes.llm_server import TRANSCRIPT_WORDS
from tests.llm.conftest import FakeModels

pytestmark = [pytest.mark.browser, pytest.mark.live]
PASSWORD = "correct-horse-battery"
# Chromium's fake capture device (a beeping tone) stands in for the microphone; the permission prompt is answered yes.
MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required"]


def test_push_to_talk_streams_the_microphone_and_plays_the_reply(voice_models: FakeModels, daphne_server: Any, fake_llm: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = UserFactory(email="speaker@example.com")
    fake_llm.script("", "Hello there. Nice to hear you.")  # whatever the fake heard in the recording
    base = daphne_server.url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS + MEDIA_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            context.grant_permissions(["microphone"], origin=base)
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(base + "/login/")
            page.fill("#id_username", user.email)
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            page.click("nav >> text=Voice")
            page.wait_for_url(re.compile(r"/voice/$"))
            expect(page.locator("#voice-status")).to_contain_text("Ready")
            button = page.locator("#talk")
            button.hover()
            page.mouse.down()
            expect(button).to_contain_text("Listening")
            page.wait_for_timeout(1500)  # speak into the fake microphone for a moment
            page.mouse.up()
            user_line = page.locator(".voice-user .voice-text")
            expect(user_line).to_have_count(1)
            expect(page.locator(".voice-assistant .voice-text")).to_have_text("Hello there. Nice to hear you.")
            expect(page.locator("#voice-status")).to_contain_text("That turn cost")
            expect(page.locator("#voice-audio")).to_have_attribute("data-received", "2")  # one clip per sentence
            checks = BrowserSession(page=page, base_url=base, server=daphne_server)
            checks.check_page("voice-page")
            checks.assert_fits_phone()
            heard = user_line.inner_text()
        finally:
            browser.close()
    # The fake derived the words from the webm bytes the page recorded and streamed.
    assert heard.rstrip(".").lower().split()[0] in TRANSCRIPT_WORDS
    upload = fake_llm.wait_for(lambda entry: entry.path == "/v1/audio/transcriptions")
    assert upload.body["bytes"] > 1000
    session = VoiceSession.objects.get(user=user)
    assert list(Message.objects.filter(conversation_id=session.conversation_id).order_by("created_at").values_list("role", flat=True)) \
        == ["user", "assistant"]
