"""The live page in a real headless Chromium: the stream moves and the stats update, seen by screenshot.

Chromium is driven with Selenium through Debian's chromedriver (W3C WebDriver, the browser's own
driver, no download). Skipped, with the reason, where Chromium, chromedriver or Selenium is absent.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from helpers import default_sigint

TOKEN = "s3cret-token-0123456789"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
missing = [what for what, ok in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER),
                                 ("selenium", importlib.util.find_spec("selenium"))) if not ok]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed (Debian: apt-get install "
                                                       "chromium chromium-driver; pip: selenium)")


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1100,800", "--force-device-scale-factor=1",
                f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(arg)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers on the network
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(driver.get_screenshot_as_png(), np.uint8), cv2.IMREAD_COLOR)


def region(shot: np.ndarray, element) -> np.ndarray:
    r = element.rect
    x, y, w, h = (int(round(r[k])) for k in ("x", "y", "width", "height"))
    assert w > 0 and h > 0, r
    return shot[y:y + h, x:x + w]


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and float(np.abs(a.astype(np.int16) - b).mean()) > 0.5


def test_the_page_shows_moving_frames_and_updating_stats(tiny_model, make_clip, tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    blocks = [c for c in (None, 0, 1, 2) for _ in range(6)]
    video = make_clip(tmp_path / "drive.mp4", blocks * 25, size=160, fps=20.0)  # 30 s played in real time
    proc = subprocess.Popen([sys.executable, "-m", "edgetl", "run", str(tiny_model), str(video), "--headless",
                             "--serve", "0", "--serve-token", TOKEN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_sigint)
    try:
        line = ""
        while not (m := re.search(r"live view on (http://\S+/)", line)):
            line = proc.stderr.readline()
            assert line or proc.poll() is None, proc.stderr.read()
        browser.get(f"{m.group(1)}?token={TOKEN}")
        wait = WebDriverWait(browser, 60, poll_frequency=0.2)
        stream = browser.find_element(By.ID, "stream")
        wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", stream) > 0)
        wait.until(lambda d: d.find_element(By.ID, "fps").text not in ("", "--"))
        stats = browser.find_element(By.ID, "counters")
        first = screenshot(browser)
        frames_then = browser.find_element(By.ID, "counters").text
        time.sleep(2.5)
        second = screenshot(browser)

        picture_a, picture_b = region(first, stream), region(second, stream)
        assert picture_a.std() > 10, "the stream shows no picture"
        assert differs(picture_a, picture_b), "the stream did not move"
        assert differs(region(first, stats), region(second, stats)), "the stats did not update"
        assert browser.find_element(By.ID, "counters").text != frames_then
        assert "model.pt" in browser.find_element(By.ID, "model").text
        assert "drive.mp4" in browser.find_element(By.ID, "source").text
        assert browser.find_elements(By.CSS_SELECTOR, "#events li"), "no recognition was listed"
        assert browser.find_element(By.ID, "state").text == "live"
        cv2.imwrite(str(tmp_path / "page.png"), second)  # kept for a look when the test fails

        proc.send_signal(signal.SIGINT)  # the page learns that the run ended, and why
        wait.until(lambda d: d.find_element(By.ID, "state").text.startswith("ended:"))
        assert "stopped by SIGINT" in browser.find_element(By.ID, "state").text
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
