"""The browser page (web/, served at /) in headless Chromium against a real release server with
the embedded model: upload a photo, follow the job, hover and isolate a segment, drop it and
have the model complete it, see the jobs list; at desktop and phone widths, with no console
errors. SEGSERVE_SCREENSHOTS=DIR also saves screenshots there."""
import io
import json
import os
import shutil
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.support.ui import Select, WebDriverWait

from segtools import testing

REPO = testing.REPO
from segtools.codec import ids_from_rgb, write_ids
from segtools.testing import multipart



def ids_of(url):
    return ids_from_rgb(Image.open(io.BytesIO(urllib.request.urlopen(url).read())).convert("RGB"))


@pytest.fixture(scope="module")
def site():
    with testing.serve("release", model=os.path.join(REPO, "models", "default"), workers_threads=2) as (base, _):
        yield base


@pytest.fixture
def browser():
    options = Options()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    yield driver
    driver.quit()


def shoot(driver, name):
    folder = os.environ.get("SEGSERVE_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        driver.save_screenshot(os.path.join(folder, name))


def waiter(browser, site):
    """`until(condition, what)`: waits up to 240 s for `condition`; a wait that times out says what
    the page's status line, its console and the server's latest jobs showed."""
    def until(condition, what):
        try:
            return WebDriverWait(browser, 240, poll_frequency=0.2).until(condition)
        except TimeoutException:
            jobs = json.loads(urllib.request.urlopen(f"{site}/v1/jobs?limit=5").read())["jobs"]
            raise AssertionError(
                f"timed out waiting for {what}; the page says {browser.find_element(By.ID, 'job-status').text!r}; "
                f"console {[e['message'] for e in browser.get_log('browser')]}; latest jobs "
                f"{[(j['kind'], j['state'], j.get('error')) for j in jobs]}") from None
    return until


def submit_blocker(site, image):
    """A job that keeps the server's one worker busy until it is cancelled; returns its id."""
    options = {"steps": 1000, "resolution": 256, "ensemble_seeds": 1, "flip": False}
    with open(image, "rb") as f:
        body, headers = multipart([("image", "image/jpeg", f.read()), ("options", "application/json", json.dumps(options).encode())])
    request = urllib.request.Request(f"{site}/v1/segmentations", data=body, method="POST", headers=headers)
    return json.loads(urllib.request.urlopen(request).read())["id"]


def press(driver, button):
    """Clicks `button` once it stands still: scrolling it into view at once stops any smooth scroll
    the page started (one moving under the pointer takes the click elsewhere)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def point_at(driver, canvas, x, y):
    """Moves the pointer over image pixel (x, y) of the canvas, wherever it is laid out (scrolled
    into view first: pointer moves do not scroll)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    width, height = int(canvas.get_attribute("width")), int(canvas.get_attribute("height"))
    rect = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas)
    dx = (x + 0.5) * rect[0] / width - rect[0] / 2
    dy = (y + 0.5) * rect[1] / height - rect[1] / 2
    ActionChains(driver).move_to_element_with_offset(canvas, int(dx), int(dy)).perform()


def centre_pixel(ids, segment):
    """A pixel of `segment` as far from its border and the image's as any (what eroding it leaves
    last), the one nearest to the centroid of those: a pointer there stays on the segment."""
    mask = ids == segment
    while True:
        inner = np.zeros_like(mask)
        inner[1:-1, 1:-1] = mask[1:-1, 1:-1]
        inner[1:] &= mask[:-1]
        inner[:-1] &= mask[1:]
        inner[:, 1:] &= mask[:, :-1]
        inner[:, :-1] &= mask[:, 1:]
        if not inner.any():
            break
        mask = inner
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return int(xs[k]), int(ys[k])


def test_upload_inspect_inpaint_and_list(site, browser, tmp_path):
    image = testing.PHOTOS[0]
    browser.get(site + "/")
    until = waiter(browser, site)
    until(lambda d: d.find_element(By.ID, "model-info").text.startswith("Model "), "the model's description")
    # Every status line the page shows, to check afterwards that progress was among them.
    browser.execute_script("""
        window.statusLines = [];
        new MutationObserver(() => window.statusLines.push(document.getElementById('job-status').textContent))
          .observe(document.getElementById('job-status'), { childList: true, characterData: true, subtree: true });""")
    assert browser.find_element(By.NAME, "steps").get_attribute("value") == "20", "the model's defaults fill the form"
    assert browser.find_element(By.NAME, "sampler").get_attribute("value") == "ddim"
    # The server's ranges (GET /v1/models limits) bound the form: none is written in the page.
    bounds = {name: [browser.find_element(By.NAME, name).get_attribute(a) for a in ("min", "max", "step")]
              for name in ("steps", "deep_cache", "token_merging", "resolution", "mask_th", "ensemble_seeds", "seed")}
    assert bounds == {"steps": ["1", "1000", ""], "deep_cache": ["1", "1000", ""], "token_merging": ["0", "0.75", "0.05"],
                      "resolution": ["64", "1024", "8"], "mask_th": ["0.01", "0.99", "0.01"],
                      "ensemble_seeds": ["1", "16", ""], "seed": ["0", "", ""]}, bounds

    # Every control has a name a screen reader can say.
    unnamed = browser.execute_script("""
        return [...document.querySelectorAll('input:not([type=file]), select, button, canvas, [role=button]')]
          .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
          .map(e => e.outerHTML);""")
    assert unnamed == []

    file_input = browser.find_element(By.ID, "file")
    browser.execute_script("arguments[0].hidden = false", file_input)
    file_input.send_keys(image)
    browser.execute_script("arguments[0].hidden = true", file_input)
    for name, value in (("steps", "10"), ("deep_cache", "2"), ("token_merging", "0.5"), ("ensemble_seeds", "1")):
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    flip = browser.find_element(By.NAME, "flip")
    if flip.is_selected():
        flip.click()
    Select(browser.find_element(By.NAME, "sampler")).select_by_value("dpm-solver++")
    # The page's job waits behind another until the page shows it queued, so its event stream is
    # open before it runs, however slowly the browser follows.
    blocker = submit_blocker(site, image)
    browser.find_element(By.ID, "segment").click()
    until(lambda d: "Queued: next" in d.find_element(By.ID, "job-status").text, "the job's place in the queue")
    urllib.request.urlopen(urllib.request.Request(f"{site}/v1/jobs/{blocker}", method="DELETE"))

    # Progress (from the job's event stream) shows while the job runs, then the map.
    view = until(lambda d: d.find_element(By.ID, "view") if d.find_element(By.ID, "view").get_attribute("data-job") else None,
                 "the segmentation")
    assert any(line.startswith("Running: step") for line in browser.execute_script("return window.statusLines")), \
        browser.execute_script("return window.statusLines")
    job = view.get_attribute("data-job")
    chosen = json.loads(urllib.request.urlopen(f"{site}/v1/jobs/{job}").read())["options"]
    assert (chosen["sampler"], chosen["steps"], chosen["deep_cache"], chosen["token_merging"]) == ("dpm-solver++", 10, 2, 0.5), \
        "the form's sampler, DeepCache interval and token merging go with the job"
    ids = ids_of(f"{site}/v1/jobs/{job}/panoptic.png")
    segments = {s["id"]: s for s in json.loads(urllib.request.urlopen(f"{site}/v1/jobs/{job}/segments.json").read())["segments_info"]}
    assert int(view.get_attribute("data-segments")) == len(segments) >= 2
    largest = max(segments.values(), key=lambda s: s["area"])
    x, y = centre_pixel(ids, largest["id"])

    # Hover names the segment, click isolates it.
    point_at(browser, view, x, y)
    info = browser.find_element(By.ID, "segment-info")
    until(lambda d: info.get_attribute("data-segment") == str(largest["id"]), "the hovered segment's description")
    assert f"Segment {largest['id']}: area {largest['area']} px, bbox [{', '.join(map(str, largest['bbox']))}], " \
           f"score {largest['score']:.2f}" in info.text
    ActionChains(browser).click().perform()
    until(lambda d: "(isolated)" in info.text, "the clicked segment isolated")
    shoot(browser, "segments.png")
    ActionChains(browser).click().perform()

    # The review list puts the least certain first and isolates a segment on click; the
    # uncertainty layer changes the picture.
    review = [b.get_attribute("data-segment") for b in browser.find_elements(By.CSS_SELECTOR, "#review-list button")]
    assert review == [str(s["id"]) for s in sorted(segments.values(), key=lambda s: (s["score"], s["id"]))]
    assert "a single run" in browser.find_element(By.ID, "review-basis").text
    browser.find_element(By.CSS_SELECTOR, f"#review-list button[data-segment='{review[0]}']").click()
    until(lambda d: info.text.startswith(f"Segment {review[0]}:") and "(isolated)" in info.text, "the reviewed segment isolated")
    browser.find_element(By.CSS_SELECTOR, f"#review-list button[data-segment='{review[0]}']").click()
    before = browser.execute_script("return document.getElementById('view').toDataURL()")
    browser.find_element(By.ID, "show-uncertainty").click()
    until(lambda d: d.execute_script("return document.getElementById('view').toDataURL()") != before, "the uncertainty layer")
    shoot(browser, "uncertainty.png")
    browser.find_element(By.ID, "show-uncertainty").click()

    # Drop the largest segment and let the model complete it; the other segments stay as they were.
    browser.find_element(By.CSS_SELECTOR, "input[name=tool][value=toggle]").click()
    point_at(browser, view, x, y)
    ActionChains(browser).click().perform()
    until(lambda d: "dropped" in info.text, "the segment dropped")
    browser.find_element(By.ID, "inpaint").click()
    output = until(lambda d: d.find_element(By.ID, "inpaint-output")
                   if d.find_element(By.ID, "inpaint-output").get_attribute("data-job") else None, "the completed map")
    completed = ids_of(f"{site}/v1/jobs/{output.get_attribute('data-job')}/panoptic.png")
    kept = (ids != 0) & (ids != largest["id"])
    assert kept.any() and (completed[kept] == ids[kept]).all(), "kept pixels keep their ids"
    shoot(browser, "inpainting.png")

    # Inpainting from an uploaded partial map: only the largest segment is given.
    write_ids(np.where(ids == largest["id"], ids, 0), tmp_path / "partial.png")
    browser.find_element(By.ID, "partial").send_keys(str(tmp_path / "partial.png"))
    until(lambda d: "Partial map partial.png loaded: 1 segments known" in d.find_element(By.ID, "job-status").text,
          "the partial map loaded")
    first = output.get_attribute("data-job")
    # The completed map scrolled into view smoothly.
    press(browser, browser.find_element(By.ID, "inpaint"))
    until(lambda d: d.find_element(By.ID, "inpaint-output").get_attribute("data-job") not in (None, "", first),
          "the map completed from the partial map")
    from_file = ids_of(f"{site}/v1/jobs/{browser.find_element(By.ID, 'inpaint-output').get_attribute('data-job')}/panoptic.png")
    assert (from_file[ids == largest["id"]] == largest["id"]).all(), "the given segment is kept"

    # The jobs list has both jobs, finished.
    press(browser, browser.find_element(By.ID, "refresh"))
    until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#job-list .state.succeeded")) >= 2, "the finished jobs listed")

    # At a phone's width nothing overflows sideways.
    browser.set_window_size(390, 844)
    time.sleep(0.3)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    shoot(browser, "phone.png")

    # The page followed its jobs by their event streams, not by polling.
    metrics = urllib.request.urlopen(f"{site}/metrics").read().decode()
    assert 'route="/v1/jobs/{id}/events"' in metrics
    polls = [line for line in metrics.splitlines() if line.startswith("segserve_http_requests_total") and 'method="GET"' in line
             and 'route="/v1/jobs/{id}"' in line]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in polls) <= 4, polls

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors


def test_assets_are_served_with_their_types(site):
    for path, kind in (("/", "text/html"), ("/ui/app.js", "text/javascript"), ("/ui/app.css", "text/css")):
        with urllib.request.urlopen(site + path) as response:
            assert response.headers["Content-Type"].startswith(kind)
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(site + "/ui/../openapi.yaml")
    assert missing.value.code == 404
