"""The documentation site as a reader sees it: every page opened in headless Chromium, with the network off.

The site is built with ``mkdocs build`` and each page is opened from disk (``file://``, as a reader opens a
local build) in the system's Chromium, driven by Selenium through the system's chromedriver (no browser is
downloaded). Every request to another host is refused: a proxy that does not exist stands in for the
internet, host names do not resolve, and the page's network log is checked for any attempt. After the math
is typeset, a page fails on

* math that did not typeset, or typeset with an error (unknown macro, bad TeX);
* raw TeX left in the text (``\\(``, ``\\[``, ``$$``, ``\\begin``, control words such as ``\\frac``);
* Markdown left in the text outside code (``**``, backticks, ``](``, table rows, ``--8<--``, ...) and
  emphasis glued to a word (what ``delta**2 ... delta**4`` turns into when it is not escaped);
* an image that did not load (``naturalWidth == 0``);
* a console error, and a request to any host but the local server.

Set ``NLC_DOCS_SCREENSHOTS=DIR`` to also save a PNG of each page (the first screen and the whole page).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="the browser test needs Chromium and chromedriver on PATH (Debian: apt-get install chromium "
           "chromium-driver; .ci/run installs them)")

#: Pages of the site: every Markdown file of docs/ but the fragments that pages include.
SOURCES = sorted(p.relative_to(DOCS) for p in DOCS.rglob("*.md") if p.relative_to(DOCS).parts[0] != "generated")


def built_page(source: Path) -> str:
    """Where MkDocs (``use_directory_urls: false``) puts the page built from ``source``."""
    return source.with_suffix(".html").as_posix()


# ------------------------------------------------------------------ what a page may not show
RAW_TEX = re.compile(r"\\[()\[\]]|\$\$|\\begin\b|\\[A-Za-z]{2,}|\$")
RAW_MARKDOWN = re.compile(
    r"\*\*|__|`|\]\(|!\[|--8<--|^\s*\|.*\|\s*$|\|\s*-{3,}|\{\s*:?\s*(width|\.|#)|^\s*(!!!|\?\?\?)\s|^#{1,6}\s"
    r"|&(amp|lt|gt|quot|#\d+);",
    re.M)

#: Runs in the page: the text outside code and math, emphasis glued to words, math state, images.
INSPECT = r"""
const skip = "pre, code, script, style, svg, .katex, mjx-container, .md-search, .md-clipboard, .headerlink";
const texts = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (n.parentElement.closest(skip) || !n.nodeValue.trim()) continue;
  texts.push(n.nodeValue);
}
const glued = [];
for (const el of document.querySelectorAll("strong, em, b, i")) {
  if (el.closest(skip) || el.closest(".md-icon, .twemoji")) continue;
  const before = el.previousSibling, after = el.nextSibling;
  if ((before && before.nodeType === 3 && /\w$/.test(before.nodeValue))
      || (after && after.nodeType === 3 && /^\w/.test(after.nodeValue)))
    glued.push((before ? before.textContent.slice(-30) : "") + "<" + el.tagName.toLowerCase() + ">"
               + el.textContent.slice(0, 60) + "</" + el.tagName.toLowerCase() + ">"
               + (after ? after.textContent.slice(0, 30) : ""));
}
const math = document.querySelectorAll(".arithmatex");
return {
  texts: texts,
  glued: glued,
  math: math.length,
  mathErrors: Array.from(document.querySelectorAll(".katex-error, mjx-merror"),
                         e => (e.getAttribute("title") || e.textContent).slice(0, 200)),
  images: Array.from(document.images, im => ({src: im.currentSrc || im.src, ok: im.complete && im.naturalWidth > 0})),
};
"""

#: Resolves when every math element of the page has been typeset (or after 20 s).
WAIT_FOR_MATH = r"""
const done = arguments[arguments.length - 1];
const t0 = Date.now();
(function poll() {
  const math = Array.from(document.querySelectorAll(".arithmatex"));
  const images = Array.from(document.images);
  if (math.every(e => e.querySelector(".katex, mjx-container, .katex-error"))
      && images.every(im => im.complete) && document.readyState === "complete") return done(true);
  if (Date.now() - t0 > 20000) return done(false);
  setTimeout(poll, 50);
})();
"""


def problems_of(page: dict, typeset: bool) -> list[str]:
    """What is wrong with one inspected page (the result of INSPECT), as readable lines."""
    out = []
    if not typeset:
        out.append(f"math not typeset after 20 s ({page['math']} math elements)")
    out += [f"math error: {e}" for e in page["mathErrors"]]
    for text in page["texts"]:
        for pattern, what in ((RAW_TEX, "raw TeX"), (RAW_MARKDOWN, "raw Markdown")):
            m = pattern.search(text)
            if m:
                out.append(f"{what} {m.group(0)!r} in: {text.strip()[max(0, m.start() - 60):m.end() + 60]!r}")
    out += [f"emphasis glued to a word (unescaped * or _?): {g!r}" for g in page["glued"]]
    out += [f"image did not load: {im['src']}" for im in page["images"] if not im["ok"]]
    return out


# ------------------------------------------------------------------ the site, a server, a browser
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions", "--disable-dev-shm-usage", "--window-size=1280,900",
                 "--force-device-scale-factor=1",
                 # the network is off: other hosts go to a proxy that does not exist, names do not resolve
                 "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_script_timeout(30)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def requests_made(driver) -> list[str]:
    """URLs the page asked for since the last call (the DevTools network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def screenshot(driver, path: Path) -> None:
    """The first screen (``*-top.png``) and the whole page with every collapsed block open (``*.png``, at
    most 16000 px tall)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path.with_name(path.stem + "-top.png")))
    driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    height = min(driver.execute_script("return document.documentElement.scrollHeight"), 16000)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


# ------------------------------------------------------------------ the tests
def test_every_page_is_checked(site):
    built = {p.relative_to(site).as_posix() for p in site.rglob("*.html")} - {"404.html"}
    assert built == {built_page(s) for s in SOURCES}, "a page of the site is not in SOURCES"


@pytest.mark.parametrize("source", SOURCES, ids=str)
def test_page_renders_offline(source, site, browser):
    url = (site / built_page(source)).as_uri()
    browser.get_log("browser"), requests_made(browser)  # start from empty logs
    browser.get(url)
    typeset = browser.execute_async_script(WAIT_FOR_MATH)
    page = browser.execute_script(INSPECT)
    problems = problems_of(page, typeset)
    problems += [f"console {e['level']}: {e['message']}" for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    problems += [f"request to another host: {u}" for u in requests_made(browser)
                 if not u.startswith((site.as_uri() + "/", "data:", "blob:", "about:", "chrome:"))]
    if os.environ.get("NLC_DOCS_SCREENSHOTS"):
        screenshot(browser, Path(os.environ["NLC_DOCS_SCREENSHOTS"]) / (source.with_suffix("").as_posix()
                                                                         .replace("/", "__") + ".png"))
    print(f"{source}: {page['math']} formulas typeset, {len(page['images'])} images, {len(problems)} problems")
    assert not problems, f"{url}:\n" + "\n".join(problems[:40]) + (
        f"\n... and {len(problems) - 40} more" if len(problems) > 40 else "")


def test_checks_catch_broken_pages():
    """The inspection flags what the reader would see wrong: raw TeX, raw Markdown, glued bold, broken images."""
    broken = {"texts": ["\\(D_\\mu f\\)", "delta**2 multiplies", "| a | b |", "see [x](y.md)", "a $x$ b"],
              "glued": ["delta<strong>2 multiplies</strong>4"], "math": 1, "mathErrors": ["\\foo"],
              "images": [{"src": "a.png", "ok": False}, {"src": "b.png", "ok": True}]}
    found = problems_of(broken, typeset=False)
    assert len(found) == 9, found
    clean = {"texts": ["D_mu f = 1/2 at the kink", "the order 1.9995 (10 points)"], "glued": [], "math": 0,
             "mathErrors": [], "images": [{"src": "b.png", "ok": True}]}
    assert problems_of(clean, typeset=True) == []
