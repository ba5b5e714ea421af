"""The chat page in headless Chromium: managing conversations and folders, knowledge per chat, streaming controls."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from apps.chat import services as chat_services
from apps.chat.models import Conversation, Folder
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]

CONVERSATION = "#conversation-list li[data-id='{}']"
FOLDER = "#folder-list li[data-folder='{}']"


def _conversation(user: Any, title: str) -> Conversation:
    return chat_services.conversation_create(user=user, title=title)


def test_conversations_and_folders_are_managed_from_the_sidebar(fake_models: Any, browser_page: Any) -> None:
    user: Any = UserFactory(email="organiser@example.com")
    keep = _conversation(user, "Trip plans")
    doomed = _conversation(user, "Scratch notes")
    page = browser_page.page
    browser_page.login(user.email)
    browser_page.goto(f"/chat/?c={keep.pk}")
    page.wait_for_selector(CONVERSATION.format(doomed.pk))
    page.wait_for_selector("#move-folder-label:not([hidden])")

    # Rename inline: Escape cancels, Enter saves.
    page.click(f"{CONVERSATION.format(keep.pk)} .conv-rename")
    page.fill(".conv-title-input", "Never saved")
    page.keyboard.press("Escape")
    page.wait_for_selector(".conv-title-input", state="detached")
    keep.refresh_from_db()
    assert keep.title == "Trip plans"
    page.click(f"{CONVERSATION.format(keep.pk)} .conv-rename")
    page.fill(".conv-title-input", "Lisbon trip")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{CONVERSATION.format(keep.pk)} .title:text-is('Lisbon trip')")
    assert page.inner_text("#conversation-title") == "Lisbon trip"
    keep.refresh_from_db()
    assert keep.title == "Lisbon trip"

    # Delete: an in-page dialog (no browser confirm); Escape and Cancel keep the conversation.
    browser_dialogs: list[str] = []

    def refuse(dialog: Any) -> None:
        browser_dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.click(f"{CONVERSATION.format(doomed.pk)} .conv-delete")
    page.wait_for_selector("#confirm-dialog[open]")
    assert "Scratch notes" in page.inner_text("#confirm-text")
    assert page.evaluate("document.activeElement.id") == "confirm-cancel"
    browser_page.check_page("chat-delete-dialog")
    page.keyboard.press("Escape")
    page.wait_for_selector("#confirm-dialog", state="hidden")
    assert page.evaluate("document.activeElement.classList.contains('conv-delete')")
    assert Conversation.objects.filter(pk=doomed.pk).exists()
    page.click(f"{CONVERSATION.format(doomed.pk)} .conv-delete")
    page.click("#confirm-ok")
    page.wait_for_selector(CONVERSATION.format(doomed.pk), state="detached")
    assert not Conversation.objects.filter(pk=doomed.pk).exists()
    assert browser_dialogs == []

    # Folders: create in an in-page form, rename, and the open chat's labelled "Move to folder" select.
    page.click("#new-folder")
    page.wait_for_selector("#folder-dialog[open]")
    assert page.evaluate("document.activeElement.id") == "folder-name"
    page.fill("#folder-name", "Travel")
    page.keyboard.press("Enter")
    travel_row = page.locator("#folder-list .folder-open:text-is('Travel')")
    travel_row.wait_for()
    travel = Folder.objects.get(owner=user, name="Travel")
    page.click(f"{FOLDER.format(travel.pk)} .folder-rename")
    assert page.input_value("#folder-name") == "Travel"
    page.fill("#folder-name", "Holidays")
    page.click("#folder-save")
    page.wait_for_selector("#folder-list .folder-open:text-is('Holidays')")
    travel.refresh_from_db()
    assert travel.name == "Holidays"

    move = page.get_by_label("Move to folder")
    assert move.is_visible()
    move.select_option(label="Holidays")
    _wait_for(lambda: Conversation.objects.get(pk=keep.pk).folder_id == travel.pk)
    page.click(f"{FOLDER.format(travel.pk)} .folder-open")
    page.wait_for_selector(CONVERSATION.format(keep.pk))
    assert page.locator("#conversation-list li[data-id]").count() == 1
    page.click(f"{FOLDER.format('')} .folder-open")

    # Drag a conversation onto a folder.
    other = _conversation(user, "Recipes")
    page.reload(wait_until="load")
    page.wait_for_selector(CONVERSATION.format(other.pk))
    page.drag_and_drop(CONVERSATION.format(other.pk), FOLDER.format(travel.pk))
    _wait_for(lambda: Conversation.objects.get(pk=other.pk).folder_id == travel.pk)
    # ... and out of it again, onto "All conversations" (once the list shows where it is now).
    page.wait_for_selector(f"{CONVERSATION.format(other.pk)}[data-folder-id='{travel.pk}']")
    page.drag_and_drop(CONVERSATION.format(other.pk), FOLDER.format(""))
    _wait_for(lambda: Conversation.objects.get(pk=other.pk).folder_id is None)

    # Delete the folder: the dialog says its conversations stay; they go back to no folder.
    page.click(f"{FOLDER.format(travel.pk)} .folder-delete")
    page.wait_for_selector("#confirm-dialog[open]")
    assert "Its 1 conversation is kept: it goes back to “No folder”." in page.inner_text("#confirm-text")
    page.click("#confirm-ok")
    page.wait_for_selector(FOLDER.format(travel.pk), state="detached")
    keep.refresh_from_db()
    assert keep.folder_id is None
    assert page.input_value("#move-folder") == ""

    # A search without hits says so, with the query.
    page.fill("#conversation-search", "zebra crossing")
    page.wait_for_selector("#conversation-list li.empty")
    assert page.inner_text("#conversation-list") == "No conversations match “zebra crossing”."
    page.fill("#conversation-search", "lisbon")
    page.wait_for_selector(CONVERSATION.format(keep.pk))
    browser_page.check_page("chat-sidebar")

    # At 390 px the sidebar folds behind a button and the model picker stays inside its card.
    page.set_viewport_size({"width": 390, "height": 844})
    assert not page.is_visible("#chat-sidebar")
    page.click("#sidebar-toggle")
    assert page.is_visible("#conversation-search")
    browser_page.screenshot("chat-sidebar-open-390")
    page.keyboard.press("Escape")
    assert not page.is_visible("#chat-sidebar")
    assert page.evaluate("document.activeElement.id") == "sidebar-toggle"
    card = page.locator(".chat-main").bounding_box()
    picker = page.locator("#model-select").bounding_box()
    assert picker["x"] >= card["x"] and picker["x"] + picker["width"] <= card["x"] + card["width"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert browser_dialogs == []  # no confirm() or prompt() anywhere


def _wait_for(condition: Any, attempts: int = 200) -> None:
    """Polls the database until the page's request has landed (the page updates without a navigation)."""
    import time

    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("the change never reached the database")


def test_a_chat_answers_from_its_repositories_and_streams_with_the_right_controls(
    fake_models: Any, browser_page: Any, settings: Any, tmp_path: Path
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.knowledge import services as knowledge
    from apps.knowledge.models import DocumentStatus

    settings.MEDIA_ROOT = str(tmp_path / "media")
    user: Any = UserFactory(email="reader@example.com")
    page = browser_page.page
    browser_page.login(user.email)

    # No repository yet: the picker says so and links to the Knowledge page.
    browser_page.goto("/chat/")
    page.click("#repo-picker summary")
    assert page.get_by_role("link", name="Knowledge page").get_attribute("href") == "/knowledge/"

    repository = knowledge.repository_create(user=user, name="Handbook")
    document = knowledge.document_upload(user=user, repository=repository, upload=SimpleUploadedFile(
        "vacation-policy.txt", b"Employees get 25 days of paid vacation per year. The office closes at 7 pm on Fridays."))
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY and document.chunk_count  # indexed by the real ingestion

    browser_page.goto("/chat/")
    page.select_option("#model-select", "fake-openai")
    page.click("#repo-picker summary")
    assert page.is_hidden("#no-repositories")
    page.get_by_label("Handbook").check()
    page.keyboard.press("Escape")  # folds the picker
    assert page.get_attribute("#repo-picker", "open") is None
    assert page.evaluate("document.activeElement.textContent") == "Knowledge (1)"
    page.fill("#prompt", "How many vacation days do I get? #words=5")
    page.keyboard.press("Enter")
    reply = page.locator(".message-assistant[data-status=complete]")
    reply.wait_for()
    assert page.get_by_label("Move to folder").is_visible()  # the new chat can be filed at once
    # The conversation uses the card's full width (the site's flash-message style once centred and shrank it).
    assert page.locator("#messages").bounding_box()["width"] == page.locator(".chat-header").bounding_box()["width"]
    sources = reply.locator("details.sources")
    assert sources.get_attribute("open") is None  # folded
    assert sources.locator("summary").inner_text() == "1 source"
    sources.locator("summary").click()
    assert sources.locator(".source-name").first.inner_text() == "vacation-policy.txt"
    assert "25 days of paid vacation" in sources.locator(".source-snippet").first.inner_text()
    browser_page.check_page("chat-sources")

    # The choice belongs to this conversation: a new chat starts without it, reopening brings it back.
    opened = re.search(r"c=([0-9a-f-]+)", page.url)
    assert opened is not None
    conversation_id = opened.group(1)
    page.click("#new-chat")
    assert not page.get_by_label("Handbook").is_checked()
    page.click(f"{CONVERSATION.format(conversation_id)} .conv-open")
    page.wait_for_selector(".message-assistant .sources")
    assert page.get_by_label("Handbook").is_checked()

    # Shift+Enter is a new line; while a reply streams, Copy and Regenerate are hidden.
    page.fill("#prompt", "")
    page.type("#prompt", "Line one")
    page.keyboard.press("Shift+Enter")
    page.type("#prompt", "Stop me #words=300 #slow=0.05")
    assert page.input_value("#prompt") == "Line one\nStop me #words=300 #slow=0.05"
    page.keyboard.press("Enter")
    streaming = page.locator(".message-assistant[data-status=streaming]")
    streaming.wait_for()
    page.wait_for_function("(document.querySelector('.message-assistant[data-status=streaming] .message-body') || {}).innerText?.split(' ').length > 3")
    assert not streaming.locator(".btn-copy").is_visible()
    assert not streaming.locator(".btn-regenerate").is_visible()
    assert not page.locator(".btn-regenerate").first.is_visible()  # nor on the earlier reply
    browser_page.screenshots("chat-streaming-controls")

    # Stop: the reply is marked incomplete with the tokens and the cost it used.
    page.click("#stop")
    stopped = page.locator(".message-assistant[data-status=incomplete]")
    stopped.wait_for()
    meta = stopped.locator(".message-meta").inner_text()
    assert re.fullmatch(r"\d+ tokens · \d+\.\d{4} credits · incomplete", meta), meta
    assert stopped.locator(".btn-copy").is_visible() and stopped.locator(".btn-regenerate").is_visible()
    browser_page.check_page("chat-stopped")
