"""The page in a real browser: headless Chromium from Debian's packages, driven by
Selenium, against ``matcalc serve`` started on 127.0.0.1.

Chromium runs with every host name but 127.0.0.1 unresolvable, as with the network
cable pulled, and the test checks that every resource came from the server.  It types
the seed expression, picks W and reads the KaTeX-rendered result and the steps; it
checks an error's caret, a shared link, and that an XSS probe shows as text.  The
screenshot goes to tests/artifacts/ (git-ignored).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

import matcalc

CHROMIUM = os.environ.get("MATCALC_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MATCALC_CHROMEDRIVER", "/usr/bin/chromedriver")


def _missing() -> str | None:
    if not Path(CHROMIUM).exists() or not Path(CHROMEDRIVER).exists():
        return (f"browser test skipped: {CHROMIUM} or {CHROMEDRIVER} is missing "
                "(apt-get install chromium chromium-driver; .ci/run installs them)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return 'browser test skipped: selenium is missing (pip install -e ".[test]")'
    return None


REASON = _missing()
if REASON and os.environ.get("MATCALC_REQUIRE_BROWSER"):  # CI: a skip would hide the gap
    raise RuntimeError(REASON.replace("skipped", "required (MATCALC_REQUIRE_BROWSER)"))
pytestmark = [pytest.mark.browser, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

if REASON is None:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

from web_server import ARTIFACTS, running_server  # noqa: E402

SEED = "g(W*x+b)"
XSS = "<img src=x onerror=alert(1)>"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000",
         # the network cable pulled: no name resolves except this machine's address
         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


@pytest.fixture(scope="module")
def server():
    with running_server(log_path=ARTIFACTS / "serve-browser.log") as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="matcalc-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver, condition, timeout=20):
    return WebDriverWait(driver, timeout).until(condition)


def text_of(driver, selector: str) -> str:
    return driver.execute_script(
        "const n = document.querySelector(arguments[0]); return n ? n.textContent : null;",
        selector)


def open_page(driver, url: str) -> None:
    driver.get(url)
    wait(driver, lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))


def result_shown(driver) -> bool:
    return driver.execute_script(
        "return !document.getElementById('result').hidden && "
        "document.querySelector('#result-math .katex') !== null")


def type_expression(driver, text: str, enter: bool = False) -> None:
    box = driver.find_element(By.ID, "expr")
    box.clear()
    box.send_keys(text + (Keys.ENTER if enter else ""))


def assert_no_alert(driver) -> None:
    with pytest.raises(TimeoutException):
        WebDriverWait(driver, 1).until(EC.alert_is_present())


def test_seed_renders_as_math_offline(server, browser):
    open_page(browser, server)
    type_expression(browser, SEED)
    wait(browser, EC.element_to_be_clickable((By.ID, "by-W"))).click()
    wait(browser, result_shown)
    rendered = text_of(browser, "#result-math .katex-html")
    for piece in ("∂L", "∂W", "∇", "g", "W", "x", "b", "⊤"):
        assert piece in rendered, (piece, rendered)
    assert text_of(browser, "#result-text") == "∇g(W*x+b)*x'"
    steps = text_of(browser, "#steps")
    assert "dL = ∇g(a) : da" in steps and "∂L/∂W = p*x'" in steps
    assert "check passed" in text_of(browser, "#check-verdict")
    assert "\\nabla g" in text_of(browser, "#latex-source")
    assert "def f(" in text_of(browser, "#code-source")
    # the KaTeX fonts are the server's own, and they loaded
    assert browser.execute_async_script(
        "const done = arguments[0]; document.fonts.ready.then("
        "() => done(document.fonts.check('16px KaTeX_Main')));")
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert any("katex.min.js" in r for r in resources)
    assert all(r.startswith(server) for r in resources), resources
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 1500)  # the result, the steps and the LaTeX in one picture
    browser.save_screenshot(str(ARTIFACTS / "web.png"))
    browser.set_window_size(1280, 1000)


def test_a_shared_link_reproduces_the_result(server, browser):
    open_page(browser, server)
    type_expression(browser, SEED)
    wait(browser, EC.element_to_be_clickable((By.ID, "by-W"))).click()
    wait(browser, result_shown)
    link = browser.current_url
    assert "expr=" in link and "wrt=W" in link
    before = (text_of(browser, "#result-text"), text_of(browser, "#latex-source"))
    browser.get("about:blank")
    open_page(browser, link)
    wait(browser, result_shown)
    assert (text_of(browser, "#result-text"), text_of(browser, "#latex-source")) == before
    assert browser.find_element(By.ID, "expr").get_attribute("value") == SEED
    assert browser.find_element(By.ID, "by-W").is_selected()


@pytest.mark.parametrize("query, text", [
    ("expr=" + quote("x'*S*x") + "&wrt=x&let=" + quote("S=symmetric"), "2*S*x"),
    ("expr=" + quote("x'*A*x") + "&wrt=x&kind=hessian", "A + A'"),
    ("expr=" + quote("softmax(z)") + "&wrt=z&kind=jacobian&check=0",
     "diag(s) - s*s'  where s = softmax(z)"),
])
def test_links_with_declarations_and_kinds(server, browser, query, text):
    open_page(browser, f"{server}?{query}")
    wait(browser, result_shown)
    assert text_of(browser, "#result-text") == text


def test_an_error_shows_its_caret(server, browser):
    open_page(browser, server)
    type_expression(browser, "x*A", enter=True)
    wait(browser, EC.visibility_of_element_located((By.ID, "input-error")))
    assert text_of(browser, "#error-caret") == "  x*A\n   ^"  # the engine's caret lines
    caret = browser.find_element(By.ID, "caret-line")  # and ^ right under the input's '*'
    assert caret.is_displayed() and caret.text == " ^"
    assert "cannot multiply x" in text_of(browser, "#error-message")
    assert browser.find_element(By.ID, "expr").get_attribute("aria-invalid") == "true"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "web-error.png"))


def test_xss_probe_shows_as_text(server, browser):
    open_page(browser, server)
    type_expression(browser, XSS, enter=True)
    wait(browser, EC.visibility_of_element_located((By.ID, "input-error")))
    assert XSS in text_of(browser, "#error-caret")
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    assert_no_alert(browser)
    probe = quote(XSS)
    open_page(browser, f"{server}?expr={probe}&wrt={quote('<script>alert(2)</script>')}"
                       f"&let={quote('<b>x</b>=scalar')}&kind={probe}")
    wait(browser, EC.visibility_of_element_located((By.ID, "input-error")))
    assert browser.find_element(By.ID, "expr").get_attribute("value") == XSS
    assert browser.execute_script(
        "return document.querySelectorAll('img, script:not([src]), b').length") == 0
    assert_no_alert(browser)


def test_enter_right_after_typing_computes_what_was_typed(server, browser):
    open_page(browser, server)
    type_expression(browser, SEED)
    wait(browser, EC.element_to_be_clickable((By.ID, "by-W"))).click()
    wait(browser, lambda d: text_of(d, "#result-text") == "∇g(W*x+b)*x'")
    type_expression(browser, "g(W*x) + y'*x", enter=True)  # before the variables refresh
    wait(browser, lambda d: text_of(d, "#result-text") == "∇g(W*x)*x'")
    type_expression(browser, "tr(A*X*B)", enter=True)  # W is gone: the first name is taken
    wait(browser, lambda d: d.find_element(By.ID, "by-A").is_selected())
    expected = str(matcalc.diff("tr(A*X*B)", "A"))
    wait(browser, lambda d: text_of(d, "#result-text") == expected)
