"""The page in a real browser: Debian's headless Chromium, driven by Playwright, against uvicorn on loopback.

Playwright's own browser download is never used: the test points it at /usr/bin/chromium and skips
only when that is absent (CI installs it: see .ci/run). Set FERKIT_SCREENSHOT_TO=docs/serve_screenshot.png
to also refresh the documentation's screenshot.
"""

import os
import shutil
import socket
import threading
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ASTRONAUT = Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"


@pytest.fixture(scope="module")
def server_url():
    """uvicorn with the shipped model in a thread, on a socket bound before it starts (so no waiting for readiness)."""
    import uvicorn

    from ferkit.serve import ServeSettings, create_app

    app = create_app(settings=ServeSettings())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue in the kernel until uvicorn accepts them
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(30)
    sock.close()


def test_the_page_shows_the_label_the_api_gives(server_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with httpx.Client(base_url=server_url, timeout=120) as api:
        expected = api.post("/v1/predict", files={"file": ("astronaut.jpg", ASTRONAUT.read_bytes(), "image/jpeg")}).json()["faces"]
    assert len(expected) == 1
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 820})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(server_url + "/")
            expect(page.locator("#model-info")).to_contain_text("expressions", timeout=60_000)
            page.set_input_files("#file-input", str(ASTRONAUT))
            label = page.locator("[data-testid=face-label]")
            expect(label).to_have_count(1, timeout=120_000)
            shown = label.inner_text()
            bars = page.locator("[data-testid=face] .bar-row").count()
            status = page.locator("#status").inner_text()
            screenshot = tmp_path / "serve_page.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert shown == expected[0]["label"] and bars == len(expected[0]["probabilities"])
    assert "astronaut.jpg: 1 face" in status
    assert screenshot.stat().st_size > 10_000
    assert requested and all(url.startswith(server_url + "/") or url.startswith("blob:") for url in requested), requested
    if os.environ.get("FERKIT_SCREENSHOT_TO"):
        shutil.copyfile(screenshot, os.environ["FERKIT_SCREENSHOT_TO"])
