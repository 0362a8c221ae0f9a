"""The rendered book: it builds with warnings as errors, and every page works in a real browser.

The book is built once per session into a temporary directory (the repository is left untouched) with
``jupyter-book build . -W -n --keep-going``. The browser test serves the HTML on 127.0.0.1 and opens every page of
``_toc.yml`` in headless Chromium (Debian's ``chromium``, driven by the ``playwright`` Python package; no browser
download). Screenshots of every page are kept in ``tests/artifacts/book/``.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # builds the whole book (and reads it in chromium)
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts" / "book"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def toc_pages() -> list[str]:
    """The book's documents in reading order (root first), as paths without suffix: ``book/intro``, ..."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []):
                    walk(child)

    walk(toc)
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in pages]


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    """Build the book once into a temporary directory; the build's own log is the failure message."""
    out = tmp_path_factory.mktemp("book")
    cmd = [
        sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
        "build", str(ROOT), "-W", "-n", "--keep-going", "--builder", "html", "--path-output", str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # without the terminal colours
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    if proc.returncode != 0 or warnings:
        pytest.fail(
            f"jupyter-book build failed (exit {proc.returncode}); warnings and errors:\n"
            + "\n".join(warnings or log.splitlines()[-40:]),
            pytrace=False,
        )
    return out / "_build" / "html"


def test_book_builds_without_warnings(built_book):
    """Every page of the toc is rendered, the notebooks' outputs are shown (not re-executed), MathJax is local."""
    for page in toc_pages():
        assert (built_book / f"{page}.html").is_file(), f"{page} is in _toc.yml but was not rendered"
        source = next((ROOT / page).parent.glob(Path(page).name + ".*"))
        assert (built_book / "_sources" / f"{page}{source.suffix}").is_file(), f"no download copy of {source}"
    assert (built_book / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax was not copied into the book"
    intro = (built_book / "book" / "intro.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in intro and "cdn.jsdelivr" not in intro


def _chromium() -> str | None:
    return os.environ.get("HWLIB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _need_browser():
    """Skip without playwright or chromium, except under CI, which installs both and must run this test."""
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright Python package is not installed (pip install playwright)"
    if reason is None and _chromium() is None:
        reason = "no chromium binary (apt-get install chromium, or set HWLIB_CHROMIUM)"
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the browser test, but {reason}", pytrace=False)
        pytest.skip(reason)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(built_book):
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(built_book))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


# Evaluated in each page: wait for every image, then report the ones that did not load.
_BROKEN_IMAGES = """async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener('load', done); img.addEventListener('error', done); setTimeout(done, 10000);
  })));
  return {count: imgs.length,
          broken: imgs.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.currentSrc || img.src)};
}"""

# Every element that Sphinx marked as math must hold MathJax's output, and none of it a TeX error.
_MATH = """async () => {
  const math = Array.from(document.querySelectorAll('.math'));
  for (let waited = 0; math.length && !(window.MathJax && MathJax.startup) && waited < 15000; waited += 100)
    await new Promise(r => setTimeout(r, 100));  // MathJax's loader is a deferred script
  if (math.length && window.MathJax && MathJax.startup) await MathJax.startup.promise;
  return {count: math.length,
          typeset: math.filter(el => el.querySelector('mjx-container')).length,
          errors: Array.from(document.querySelectorAll('mjx-merror')).map(el => el.textContent),
          raw: math.filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 60))};
}"""

_LINKS = """(selector) => Array.from(document.querySelectorAll(selector)).map(a => a.href)"""


@pytest.mark.browser
def test_every_page_in_chromium(built_book, server):
    _need_browser()
    from playwright.sync_api import sync_playwright

    pages = toc_pages()
    urls = [f"{server}/{p}.html" for p in pages]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()

    problems: list[str] = []
    external: set[str] = set()
    links: dict[str, set[str]] = {}  # same-site link target -> fragments used
    math_pages = 0

    def route(r):
        host = urllib.parse.urlsplit(r.request.url).hostname
        if host == "127.0.0.1" or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:  # the book must work offline: nothing may come from another host
            external.add(r.request.url)
            r.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(30_000)
        current: list[str] = []
        page.on("pageerror", lambda e: current.append(f"script error: {e}"))
        page.on("console", lambda m: current.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("response", lambda r: current.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

        for doc, url in zip(pages, urls):
            current.clear()
            response = page.goto(url, wait_until="load")
            assert response is not None and response.ok, f"{doc}: {url} answered {response and response.status}"

            images = page.evaluate(_BROKEN_IMAGES)
            problems += [f"{doc}: image did not load: {src}" for src in images["broken"]]

            math = page.evaluate(_MATH)
            if math["count"]:
                math_pages += 1
            if math["typeset"] < math["count"]:
                problems.append(f"{doc}: {math['count'] - math['typeset']} of {math['count']} equations were not "
                                f"typeset by MathJax, e.g. {math['raw'][:3]}")
            problems += [f"{doc}: TeX error in an equation: {e}" for e in math["errors"]]

            sidebar = {u.split("#")[0] for u in page.evaluate(_LINKS, "nav.bd-docs-nav a.reference.internal")}
            missing = [p for p, u in zip(pages, urls) if u not in sidebar and u != url]
            if missing:
                problems.append(f"{doc}: the navigation sidebar has no link to {missing}")

            nxt = page.evaluate(_LINKS, ".prev-next-area a.right-next")
            expected = urls[urls.index(url) + 1:][:1]
            if [u.split("#")[0] for u in nxt] != expected:
                problems.append(f"{doc}: the 'next' link goes to {nxt}, expected {expected} (the _toc.yml order)")

            downloads = page.evaluate(_LINKS, "a[href*='_sources/']")
            if not downloads:
                problems.append(f"{doc}: no download button for the page's source")

            for href in page.evaluate(_LINKS, "a[href]") + downloads:
                if href.startswith(server):
                    target, _, fragment = href.partition("#")
                    links.setdefault(target, set()).add(fragment)

            page.screenshot(path=str(ARTIFACTS / f"{doc.replace('/', '__')}.png"), full_page=True)
            problems += [f"{doc}: {p}" for p in current]

        # Every link between pages resolves, and so does the anchor it points to.
        for target, fragments in sorted(links.items()):
            resp = context.request.get(target)
            if not resp.ok:
                problems.append(f"broken link: {target} answered {resp.status}")
                continue
            if target.endswith(".html"):
                body = resp.text()
                for frag in sorted(f for f in fragments if f):
                    anchor = urllib.parse.unquote(frag)
                    if f'id="{anchor}"' not in body and f'name="{anchor}"' not in body:
                        problems.append(f"broken anchor: {target}#{frag}")
        browser.close()

    problems += [f"request to another host (the book must work offline): {u}" for u in sorted(external)]
    assert not problems, "\n".join(problems)
    assert math_pages >= 1, "no page has an equation, so MathJax was never checked"


# The memory chapter's calculator: window.hwlibMemory against hwlib.memory in Python, for several configurations.
CALCULATOR_CASES = [
    {"layers": 6, "hidden": 384, "heads": 12, "vocab": 30522, "ffn": 1536, "method": "adapter",
     "precision": "fp32-cpu", "adapter_size": 32, "b": 4, "s": 64},
    {"layers": 24, "hidden": 3200, "heads": 50, "vocab": 30522, "ffn": 12800, "method": "full",
     "precision": "mixed-hf", "b": 16, "s": 256},
    {"layers": 24, "hidden": 3200, "heads": 50, "vocab": 30522, "ffn": 12800, "method": "adapter", "b": 16, "s": 256},
    {"layers": 12, "hidden": 768, "heads": 12, "vocab": 50265, "ffn": 3072, "max_positions": 514, "type_vocab": 1,
     "num_labels": 6, "precision": "fp32", "b": 8, "s": 128},
]


def _python_memory(case: dict) -> dict:
    from hwlib import memory

    fields = ("layers", "hidden", "heads", "vocab", "ffn", "max_positions", "type_vocab", "num_labels")
    encoder = memory.Encoder(**{k: case[k] for k in fields if k in case})
    mem = memory.training_memory(encoder, case.get("method", "full"), case.get("precision", "mixed"),
                                 case.get("adapter_size", 64))
    return memory.evaluate(mem, b=case["b"], s=case["s"])


@pytest.mark.browser
def test_the_memory_calculator_computes_what_the_library_computes(built_book, server):
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server}/notebooks/memory.html", wait_until="load")
        results = page.evaluate("cases => cases.map(c => window.hwlibMemory(c))", CALCULATOR_CASES)
        bad = page.evaluate("""() => { try { window.hwlibMemory({layers: 2, hidden: 8, heads: 2, vocab: 10, ffn: 32,
                                b: 1, s: 1, precision: 'fp8'}); return null; } catch (e) { return e.message; } }""")
        shown = page.inner_text("#hwlib-memory-calculator .hwlib-out")
        browser.close()
    assert not errors, errors
    for case, got in zip(CALCULATOR_CASES, results):
        want = _python_memory(case)
        assert set(got) == set(want)
        for k in want:
            assert got[k] == pytest.approx(want[k], rel=1e-12), (case, k)
    assert bad and "fp8" in bad and "mixed" in bad  # names the bad value and the accepted ones
    assert "step peak" in shown and "GB" in shown  # the form drew its first answer


@pytest.mark.browser
def test_every_figure_is_numbered_captioned_and_cited(built_book, server):
    """Every image of every page sits in a figure with a numbered caption, and the page's prose links to it by its
    number (``{numref}``), so that a reader can refer to it."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    problems, figures_seen = [], 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for doc in toc_pages():
            page.goto(f"{server}/{doc}.html", wait_until="load")
            figures = page.evaluate("""() => Array.from(document.querySelectorAll('article img')).map(img => {
                const fig = img.closest('figure');
                const cap = fig && fig.querySelector('figcaption');
                return {src: img.getAttribute('src'), id: fig ? fig.id : '',
                        caption: cap ? cap.textContent.trim() : ''};})""")
            cited = set(page.evaluate("() => Array.from(document.querySelectorAll('article a.reference.internal'))"
                                      ".map(a => (a.getAttribute('href') || '').split('#')[1])"))
            for f in figures:
                figures_seen += 1
                if not f["caption"].startswith("Fig."):
                    problems.append(f"{doc}: an image without a numbered caption ({f['src']})")
                elif f["id"] not in cited:
                    problems.append(f"{doc}: {f['caption'][:40]}... is never referred to by its number")
        browser.close()
    assert figures_seen >= 10, f"only {figures_seen} figures found: the selector no longer finds them"
    assert not problems, "\n".join(problems)


# Everything a reader is shown fits the text column: a table, figure, printed output, code block or equation wider
# than the article is cut off or scrolls. What sits in a closed toggle (<details>) is one click away and is left out.
_OVERFLOW = """() => {
  const art = document.querySelector('article.bd-article') || document.querySelector('main');
  const width = art.clientWidth;
  const out = [];
  for (const el of art.querySelectorAll('table, img, pre, figure, .cell_output > div, mjx-container[display=true]')) {
    if (el.closest('details:not([open])')) continue;
    const w = Math.max(el.scrollWidth, el.getBoundingClientRect().width);
    if (w > width + 1) {
      const sec = el.closest('section'), h = sec ? sec.querySelector('h1, h2, h3') : null;
      out.push(`${el.tagName.toLowerCase()} ${Math.round(w)} px wide in a ${width} px column, in "` +
               `${h ? h.textContent.replace('#', '').trim().slice(0, 60) : ''}"`);
    }
  }
  return out;
}"""


@pytest.mark.browser
def test_nothing_is_wider_than_the_column(built_book, server):
    _need_browser()
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for doc in toc_pages():
            page.goto(f"{server}/{doc}.html", wait_until="load")
            problems += [f"{doc}: {p}" for p in page.evaluate(_OVERFLOW)]
        browser.close()
    assert not problems, "\n".join(problems)
