"""A minimal W3C WebDriver client for Debian's chromium + chromedriver (no Selenium needed), and the
page interaction the browser test and the README screenshot share.

    python tests/browser.py ARCHIVE OUT.png     # serve ARCHIVE, type a review, save a screenshot
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
# Headless, no sandbox (root), and nothing that reaches out to the network this machine does not have.
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1100,1400"]


def available() -> Optional[str]:
    """None if chromium and chromedriver are installed, else what is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    return None if not missing else f"{', '.join(missing)} not installed (make browser)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self, driver_url: str, session: str) -> None:
        self.url = f"{driver_url}/session/{session}"

    def call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def open(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    def find(self, css: str, timeout: float = 30.0) -> str:
        deadline = time.time() + timeout
        while True:
            try:
                return self.call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]
            except urllib.error.HTTPError:
                if time.time() > deadline:
                    raise TimeoutError(f"no element {css!r} after {timeout} s")
                time.sleep(0.2)

    def type(self, css: str, text: str) -> None:
        self.call("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self.call("POST", f"/element/{self.find(css)}/click", {})

    def text(self, css: str, timeout: float = 30.0) -> str:
        return self.call("GET", f"/element/{self.find(css, timeout)}/text")

    def screenshot(self, path: str) -> None:
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(self.call("GET", "/screenshot")))


@contextmanager
def browser() -> Iterator[Browser]:
    """A headless chromium driven through chromedriver on a free loopback port."""
    port = _free_port()
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(driver_url + "/status", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        capabilities = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": ARGS}}}}
        request = urllib.request.Request(driver_url + "/session", data=json.dumps(capabilities).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            session = json.loads(response.read())["value"]["sessionId"]
        page = Browser(driver_url, session)
        try:
            yield page
        finally:
            page.call("DELETE", "")
    finally:
        driver.terminate()
        driver.wait(timeout=10)


def explain_in_the_page(page: Browser, url: str, review: str) -> Dict[str, Any]:
    """Open the page, type `review`, press the button; return what the page shows."""
    page.open(url)
    page.type("#text", review)
    page.click("#go")
    # the answer is shown: a main-path token highlighted in a WFSA's box (the page's own legend has a
    # `.tok.main` span too, so waiting for any one returned before the answer came on a loaded machine)
    page.find("#wfsas .tok.main")
    return {"label": page.text("#label"), "probs": page.text("#probs"), "first_wfsa": page.text(".wfsa h3"),
            "main_tokens": len(page.call("POST", "/elements", {"using": "css selector", "value": "#wfsas .tok.main"}))}


def main(argv) -> int:
    from rrnn_plugin.serve import Explainer, make_server

    archive, output = argv
    server = make_server(Explainer(archive), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    with browser() as page:
        shown = explain_in_the_page(page, url, "The handle broke after two days and the company refused to refund me. "
                                               "Total waste of money, very disappointing.")
        time.sleep(1.0)  # the structure picture loads after the answer
        page.screenshot(output)
    print(json.dumps(shown))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main(sys.argv[1:]))
