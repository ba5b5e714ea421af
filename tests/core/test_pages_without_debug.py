"""`make run` serves as a user runs it: no debug pages, a styled 404, static files still served."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import pytest


def test_make_run_settings_have_debug_off_unless_asked() -> None:
    code = "import django, os; from django.conf import settings; django.setup(); print(settings.DEBUG)"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_DEBUG"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip() == "False"
    env["DJANGO_DEBUG"] = "true"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip() == "True"


@pytest.mark.live
def test_unknown_page_is_the_styled_404_and_static_files_are_served(daphne_server: Any) -> None:
    with httpx.Client(base_url=daphne_server.url, timeout=10) as client:
        page = client.get("/no/such/page/")
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "Page not found" in page.text
        assert "URLconf" not in page.text and "api/v1/" not in page.text  # no URL pattern list
        api = client.get("/api/v1/no/such/route")
        assert api.status_code == 404 and api.json()["error"]["code"] == "NOT_FOUND"
        css = client.get("/static/css/app.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
