"""The built HTML book as a reader sees it: offline, in Chromium, served from 127.0.0.1.

Static checks (no browser): every page loads only files of the book itself, internal links and
anchors resolve, external links are citations, no solution or hidden-test text was published,
there is no _sources/ folder, and the glossary holds every chapter's key terms.

Browser checks (Chromium, every non-127.0.0.1 request blocked and counted as a failure): each page
of the table of contents loads without console errors, failed requests or 404s; its images decode;
its math is typeset by the local MathJax with its fonts; embedded ipywidgets render their controls;
figures have alt text, headings do not skip levels, <html lang> is set; next/previous navigation
walks the table of contents and search finds a chapter. Screenshots go to artifacts/book_*.png.
"""
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

from browser_fixtures import ROOT, browser, screenshot, serve, watched_page  # noqa: F401 (fixtures)

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# Hosts a page may link to: citations of papers, books and course notes. Everything else a page
# links to must be part of the book. Add a host here only for a citation.
CITATION_HOSTS = {
    "arxiv.org", "doi.org", "dx.doi.org", "cs231n.github.io", "cs231n.stanford.edu",
    "papers.nips.cc", "proceedings.neurips.cc", "proceedings.mlr.press", "jmlr.org", "www.jmlr.org",
    "openaccess.thecvf.com", "www.cv-foundation.org", "ieeexplore.ieee.org", "aclanthology.org",
    "www.aclweb.org", "www.deeplearningbook.org", "direct.mit.edu", "www.bioinf.jku.at",
    "yann.lecun.com", "www.cs.toronto.edu", "github.com", "www.oreilly.co.jp", "www.nature.com",
    "link.springer.com", "dl.acm.org", "openreview.net", "distill.pub", "karpathy.github.io",
    "colah.github.io",
}

# Terms the glossary must hold once the chapter that teaches them exists (issue 4).
REQUIRED_TERMS = [  # (中文, English, chapter source)
    ("损失函数", "loss function", "chapters/ch02_losses.md"),
    ("反向传播", "backpropagation", "chapters/ch04_backprop.md"),
    ("感受野", "receptive field", "chapters/ch07_receptive_fields.md"),
    ("残差网络", "residual network", "chapters/ch08_resnet.md"),
]
MIN_WIDGET_CHAPTERS = 4


def toc_docnames():
    """Docnames in reading order: the root, then every file of _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                names.append(e["file"])
            walk(e.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return names


DOCNAMES = toc_docnames()


def soup_of(path):
    return BeautifulSoup(Path(path).read_text(encoding="utf-8"), "html.parser")


def html_files(html):
    """The book's pages (not the theme's Jinja macro files that it copies into _static/)."""
    return sorted(f for f in Path(html).rglob("*.html") if "_static" not in f.relative_to(html).parts)


# --------------------------------------------------------------------------------------------
# Static checks of _build/html
# --------------------------------------------------------------------------------------------

def is_external(url):
    return bool(re.match(r"^(https?:)?//", url.strip(), re.I))


def test_loads_nothing_from_outside(built_book):
    """No page or stylesheet refers to a script, style, image, font or frame on another host."""
    bad = []
    for f in html_files(built_book):
        soup = soup_of(f)
        for tag, attr in [("script", "src"), ("link", "href"), ("img", "src"), ("img", "srcset"),
                          ("source", "src"), ("source", "srcset"), ("iframe", "src"),
                          ("video", "src"), ("audio", "src"), ("embed", "src"), ("object", "data")]:
            for el in soup.find_all(tag):
                val = el.get(attr)
                if tag == "link" and not set(el.get("rel", [])) & {
                        "stylesheet", "preload", "icon", "modulepreload", "prefetch", "manifest"}:
                    continue
                if val and is_external(val):
                    bad.append(f"{f.relative_to(built_book)}: <{tag} {attr}={val}>")
        for style in soup.find_all("style"):
            bad += [f"{f.relative_to(built_book)}: <style> {u}" for u in
                    re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", style.text)
                    + re.findall(r"@import\s+['\"]((?:https?:)?//[^'\"]+)", style.text)]
    for css in Path(built_book).rglob("*.css"):
        text = re.sub(r"/\*.*?\*/", "", css.read_text(errors="replace"), flags=re.S)  # drop comments
        bad += [f"{css.relative_to(built_book)}: {u}" for u in
                re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", text)
                + re.findall(r"@import\s+(?:url\()?['\"]?((?:https?:)?//[^)'\";]+)", text)]
    assert not bad, "the book must load everything from itself:\n" + "\n".join(bad[:40])


def test_no_sources_folder(built_book):
    """html_copy_source is false: no _sources/ copies of the pages (or of anything
    else). The only notebooks published are the chapters' executed notebooks, next to
    their pages."""
    assert not (Path(built_book) / "_sources").exists()
    notebooks = {f.relative_to(built_book).as_posix()
                 for f in Path(built_book).rglob("*.ipynb")}
    chapters = {f"{d}.ipynb" for d in DOCNAMES if d.startswith("chapters/")}
    assert notebooks == chapters, f"published notebooks {sorted(notebooks)}"


def region_lines(region, min_len):
    """Stripped lines inside ### BEGIN/END <region> blocks of every solutions/ notebook."""
    out = set()
    for nb_path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        inside = False
        for cell in nbformat.read(nb_path, as_version=4).cells:
            for line in cell.source.splitlines():
                if f"BEGIN {region}" in line:
                    inside = True
                elif f"END {region}" in line:
                    inside = False
                elif inside and len(line.strip()) >= min_len:
                    out.add(line.strip())
    return out


def book_source_lines():
    """Lines the book publishes on purpose: its chapters' text and code, and the nnutils sources
    the chapters show with literalinclude."""
    files = list((ROOT / "nnutils").glob("*.py")) + list((ROOT / "chapters").glob("*.md"))
    return {squash(l) for p in files for l in p.read_text(encoding="utf-8").splitlines()}


def squash(s):
    return re.sub(r"\s+", " ", s).strip()


def published_texts(html):
    """(relative path, text) of everything a reader can download: page text, scripts, data files."""
    for f in sorted(Path(html).rglob("*")):
        if not f.is_file() or f.suffix in {".png", ".jpg", ".jpeg", ".gif", ".svg", ".woff", ".woff2",
                                           ".ttf", ".eot", ".otf", ".ico", ".inv"}:
            continue
        if "_static/mathjax" in f.as_posix():      # the MathJax distribution itself
            continue
        raw = f.read_text(encoding="utf-8", errors="replace")
        # no separator: highlighted code is split into one <span> per token, and its own
        # whitespace is kept in the text nodes
        text = BeautifulSoup(raw, "html.parser").get_text("") if f.suffix == ".html" else raw
        yield f.relative_to(html).as_posix(), squash(text) + "\n" + squash(raw)


def test_no_solutions_or_hidden_tests_published(built_book):
    """No line of an instructor's solution or hidden test appears anywhere in _build/html.

    Checked against the page text (code blocks are split into highlighting spans in the raw HTML)
    and the raw files, searchindex.js included. A line that the book's own sources also contain
    (a chapter, or nnutils code shown with literalinclude) is published on purpose and not looked
    for: this test catches the build publishing solutions/ or hidden tests, not a chapter teaching
    the same line (e.g. the max-subtraction of a stable softmax).
    """
    # substring test: a shown line may carry a comment, or be wrapped over lines in the source
    files = list((ROOT / "nnutils").glob("*.py")) + list((ROOT / "chapters").glob("*.md"))
    public = "\n".join(book_source_lines()) + "\n" + "\n".join(
        squash(p.read_text(encoding="utf-8")) for p in files)
    hidden = {squash(l) for l in region_lines("HIDDEN TESTS", 25)}
    solution = {squash(l) for l in region_lines("SOLUTION", 20)}
    hidden, solution = ({l for l in lines if l not in public} for lines in (hidden, solution))
    assert hidden and solution, "found no solution/hidden-test lines to look for"
    leaks = []
    for rel, text in published_texts(built_book):
        leaks += [f"{rel}: hidden test line {l!r}" for l in hidden if l in text]
        leaks += [f"{rel}: solution line {l!r}" for l in solution if l in text]
    assert not leaks, "\n".join(leaks[:30])


def test_links_resolve_and_only_citations_leave_the_book(built_book):
    """Every internal link, #anchor and file a page refers to exists; every external link is a
    citation in the text."""
    html = Path(built_book)
    ids = {}

    def ids_of(path):
        if path not in ids:
            ids[path] = {el["id"] for el in soup_of(path).find_all(id=True)}
        return ids[path]

    broken, outside = [], []
    for f in html_files(html):
        soup = soup_of(f)
        refs = [(a, a["href"]) for a in soup.find_all(["a", "link"], href=True)]
        refs += [(el, el["src"]) for el in soup.find_all(["img", "script", "source", "iframe"], src=True)]
        for a, href in refs:
            href = href.strip()
            if href.startswith(("mailto:", "javascript:", "data:")) or href == "#":
                continue
            parts = urlsplit(href)
            if parts.scheme or parts.netloc:
                if a.name != "a":
                    continue                   # loads from outside: test_loads_nothing_from_outside
                in_text = a.find_parent("article") is not None
                if parts.scheme not in ("http", "https") or parts.hostname not in CITATION_HOSTS \
                        or not in_text:
                    outside.append(f"{f.relative_to(html)}: {href}")
                continue
            target = (f.parent / unquote(parts.path)).resolve() if parts.path else f
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{f.relative_to(html)}: {href} (no such file)")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in ids_of(target):
                broken.append(f"{f.relative_to(html)}: {href} (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken[:40])
    assert not outside, ("links that leave the book (only citations of papers/books/course notes "
                         "in the text may; see CITATION_HOSTS):\n" + "\n".join(outside[:40]))


def chapter_key_terms():
    """{(English, 中文): chapter docname} parsed from the chapter sources, independently of glossary.md."""
    terms = {}
    for doc in DOCNAMES:
        if not doc.startswith("chapters/"):
            continue
        text = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
        assert "\n## Key terms\n" in text, f"{doc}.md has no '## Key terms' section"
        table = text.split("\n## Key terms\n", 1)[1].strip().split("\n\n")[0].splitlines()
        assert [c.strip() for c in table[0].strip(" |").split("|")] == ["English", "中文"], doc
        for row in table[2:]:
            en, zh = [c.strip() for c in row.strip().strip("|").split("|")]
            terms[(en, zh)] = doc
    return terms


def test_glossary_collects_every_key_term(built_book):
    soup = soup_of(Path(built_book) / "glossary.html")
    rows = []
    for tr in soup.select("article table tbody tr"):
        tds = tr.find_all("td")
        links = [a["href"] for a in tds[2].find_all("a", href=True)]
        rows.append((tds[0].get_text(" ", strip=True), tds[1].get_text(" ", strip=True), links))
    got = {(en, zh): links for en, zh, links in rows}
    want = chapter_key_terms()
    assert want, "no key terms found in the chapters"
    assert set(got) == set(want), (f"glossary differs from the chapters' tables: missing "
                                   f"{sorted(set(want) - set(got))}, extra {sorted(set(got) - set(want))}")
    for key, doc in want.items():
        assert f"{doc}.html" in got[key], f"{key} should link to {doc}.html, links {got[key]}"
    english = [en.casefold() for en, _, _ in rows]
    assert english == sorted(english), "glossary rows are sorted by English term"
    for zh, en, src in REQUIRED_TERMS:
        if (ROOT / src).exists():
            assert any(zh in z and en in e.casefold() for e, z in got), f"glossary lacks {zh} / {en}"


CONTROL_MODEL = re.compile(r"(Slider|Dropdown|ToggleButtons?|RadioButtons|Select(Multiple)?|Checkbox"
                           r"|Text(area)?|Button|Play|Picker|Combobox)Model$")


def control_models(html, doc):
    """Model ids of the interactive controls (sliders, dropdowns, ...) in a page's widget state;
    progress bars (e.g. tqdm's) and layout boxes are widgets but not controls."""
    soup = soup_of(Path(html) / f"{doc}.html")
    state = soup.find("script", type=WIDGET_STATE)
    if state is None:
        return []
    models = json.loads(state.string)["state"]
    return [k for k, m in models.items() if CONTROL_MODEL.search(m.get("model_name", ""))]


def test_interactive_demos_embedded(built_book):
    """At least four chapters embed interactive ipywidgets (state included, so the controls render
    offline), and each such page also has a static figure that explains it without a kernel."""
    pages = [d for d in DOCNAMES if control_models(built_book, d)]
    assert len([p for p in pages if p.startswith("chapters/")]) >= MIN_WIDGET_CHAPTERS, \
        f"pages with interactive widgets: {pages}"
    for doc in pages:
        soup = soup_of(Path(built_book) / f"{doc}.html")
        figures = [img for img in soup.select("article img") if not img.find_parent(class_="jupyter-widgets")]
        assert figures, f"{doc}: a page with a widget demo needs a static figure too"
        assert soup.find("script", src=re.compile(r"_static/widgets/embed\.js")), doc


# --------------------------------------------------------------------------------------------
# In Chromium
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def book_url(built_book):
    with serve(built_book) as url:
        yield url


CHECK_PAGE_JS = """
async () => {
  const out = {lang: document.documentElement.lang, images: [], headings: [], math: 0, unset: 0};
  const article = document.querySelector('article.bd-article') || document.querySelector('article');
  for (const img of document.images) {
    let ok = true;
    try { await img.decode(); } catch (e) { ok = false; }
    const inWidget = !!img.closest('.jupyter-widgets');
    out.images.push({src: img.src.slice(0, 120), ok: ok && img.naturalWidth > 0,
                     alt: img.getAttribute('alt'), inArticle: !!(article && article.contains(img)),
                     inWidget});
  }
  if (article) {
    for (const h of article.querySelectorAll('h1,h2,h3,h4,h5,h6')) {
      if (h.closest('.jupyter-widgets')) continue;
      out.headings.push([Number(h.tagName[1]), h.textContent.trim().slice(0, 60)]);
    }
    const maths = article.querySelectorAll('.math');
    out.math = maths.length;
    out.unset = [...maths].filter(m => !m.querySelector('mjx-container')).length;
    out.mathErrors = article.querySelectorAll('mjx-merror').length;
  }
  return out;
}
"""


def wait_for_math(page):
    """Wait until MathJax 3 has finished typesetting, and its web fonts are loaded."""
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    page.evaluate("() => document.fonts.ready.then(() => true)")


@pytest.mark.parametrize("doc", DOCNAMES + ["search", "genindex"])
def test_page_in_browser(watched_page, book_url, built_book, doc):
    page, watch = watched_page
    resp = page.goto(book_url + f"{doc}.html", wait_until="load")
    assert resp.status == 200
    has_math = page.locator("article .math").count() > 0
    if has_math:
        wait_for_math(page)
    if page.locator(f'script[type="{WIDGET_STATE}"]').count():
        # embed.js renders each widget view just before its <script> tag; wait for all of them
        page.wait_for_function(f"""() => [...document.querySelectorAll('script[type="{WIDGET_VIEW}"]')]
            .every(s => s.previousElementSibling && s.previousElementSibling.querySelector('.jupyter-widgets'))""",
                               timeout=20000)
        controls = page.locator("article .jupyter-widgets :is(input, select, button, textarea, "
                                "[role=slider], [contenteditable=true])")
        assert controls.count() >= len(control_models(built_book, doc)), "widget controls missing"
        page.locator("article .jupyter-widgets").first.scroll_into_view_if_needed()
        screenshot(page, f"book_{doc.replace('/', '_')}_widget")
        sliders = page.locator("article .jupyter-widgets [role=slider]")
        if sliders.count():                        # a rendered slider moves (no kernel needed)
            handle = sliders.first
            before = handle.get_attribute("aria-valuenow")
            handle.focus()
            page.keyboard.press("Home" if before == handle.get_attribute("aria-valuemax") else "End")
            assert handle.get_attribute("aria-valuenow") != before, "slider does not move"
    info = page.evaluate(CHECK_PAGE_JS)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(200)                     # late console errors / requests
    screenshot(page, f"book_{doc.replace('/', '_')}")

    problems = watch.problems()
    assert info["lang"], "<html lang> must be set"
    bad_images = [i["src"] for i in info["images"] if not i["ok"]]
    no_alt = [i["src"] for i in info["images"]
              # images drawn by a widget from its embedded state are not figures: the static
              # figure next to the demo carries the description
              if i["inArticle"] and not i["inWidget"]
              and (not (i["alt"] or "").strip() or re.search(r"\.(png|jpe?g|svg|gif)$", i["alt"].strip()))]
    levels = [lvl for lvl, _ in info["headings"]]
    skipped = [(a, b) for a, b in zip(info["headings"], info["headings"][1:]) if b[0] > a[0] + 1]
    assert not problems, f"{doc}: " + "\n".join(problems)
    assert not bad_images, f"{doc}: images that do not decode: {bad_images}"
    assert not no_alt, f"{doc}: figures without alt text: {no_alt}"
    if doc in DOCNAMES:
        assert levels and levels[0] == 1 and levels.count(1) == 1, f"{doc}: one h1 first: {info['headings']}"
        assert not skipped, f"{doc}: heading levels skipped: {skipped}"
    if has_math:
        assert info["math"] and info["unset"] == 0 and info["mathErrors"] == 0, f"{doc}: math {info}"
        fonts = page.evaluate("() => [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family)")
        assert any(f.startswith("MJX") for f in fonts), f"{doc}: MathJax fonts not loaded: {fonts}"


def test_navigation_walks_the_toc(watched_page, book_url):
    """From the first page, 'next' reaches every page in table-of-contents order, 'previous' goes back,
    and the sidebar links to every page."""
    page, watch = watched_page
    # Each page is left only when the network is idle: clicking on while MathJax still
    # fetches its fonts would abort those requests (net::ERR_ABORTED), which is not a fault.
    page.goto(book_url + f"{DOCNAMES[0]}.html", wait_until="networkidle")
    sidebar = {page.evaluate("(h) => new URL(h, location.href).pathname", a.get_attribute("href"))
               for a in page.locator("nav.bd-docs-nav a.reference.internal").all()}
    assert {f"/{d}.html" for d in DOCNAMES[1:]} <= sidebar, f"sidebar: {sorted(sidebar)}"
    visited = [DOCNAMES[0]]
    while page.locator("a.right-next").count():
        page.locator("a.right-next").click()
        page.wait_for_load_state("networkidle")
        visited.append(urlsplit(page.url).path.lstrip("/").removesuffix(".html"))
        assert len(visited) <= len(DOCNAMES), f"'next' does not stop: {visited}"
    assert visited == DOCNAMES, "'next' order differs from _toc.yml"
    page.locator("a.left-prev").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"{DOCNAMES[-2]}.html")
    screenshot(page, "book_navigation")
    assert not watch.problems(), watch.problems()


def test_search_finds_a_chapter(watched_page, book_url):
    """Type a key term of the last chapter in the search dialog: the results list that chapter."""
    page, watch = watched_page
    terms = chapter_key_terms()
    last = [d for d in DOCNAMES if d.startswith("chapters/")][-1]
    term = next(en for (en, _), d in terms.items() if d == last)
    page.goto(book_url + f"{DOCNAMES[0]}.html", wait_until="networkidle")  # see above
    page.keyboard.press("Control+k")
    box = page.locator("#pst-search-dialog input[name='q']")
    box.wait_for(state="visible")
    box.fill(term)
    box.press("Enter")
    page.wait_for_url(re.compile(r"search\.html\?q="))
    results = page.locator("#search-results li a")
    results.first.wait_for(timeout=15000)
    hrefs = [a.get_attribute("href") for a in results.all()]
    screenshot(page, "book_search")
    assert any(f"{last}.html" in (h or "") for h in hrefs), f"search for {term!r}: {hrefs}"
    assert not watch.problems(), watch.problems()


# What scrolls sideways or is clipped at 1280 px (issue 14): display equations whose
# MathJax output is wider than its box, and code blocks / cell outputs (<pre>) wider
# than the column. Collapsed cells (toggle buttons, <details>) are opened first, so
# their blocks are measured too.
OVERFLOW_JS = """
() => {
  const article = document.querySelector('article.bd-article')
                  || document.querySelector('article');
  if (!article) return {error: 'no <article>'};
  for (const d of article.querySelectorAll('details')) d.open = true;
  for (const el of article.querySelectorAll('.toggle-hidden'))
    el.classList.remove('toggle-hidden');
  const right = article.getBoundingClientRect().right;
  const over = el => el.scrollWidth > el.clientWidth + 1;
  const where = el => {
    const sec = el.closest('section');
    const h = sec && sec.querySelector('h1,h2,h3,h4');
    return h ? h.textContent.replace(/#$/, '').trim().slice(0, 50) : '';
  };
  const first = el => (el.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 70);
  const out = {math: [], pre: [], displays: 0, blocks: 0};
  for (const box of article.querySelectorAll('mjx-container[display="true"]')) {
    out.displays += 1;
    const inner = box.querySelector('mjx-math') || box;
    const width = Math.ceil(inner.getBoundingClientRect().width);
    const parent = box.parentElement;
    if (box.getBoundingClientRect().width === 0) continue;     // not displayed
    if (width > box.clientWidth + 1 || over(box) || over(parent)
        || inner.getBoundingClientRect().right > right + 1) {
      const tex = parent.closest('.math') || parent;
      const cls = [...parent.classList].join('.');
      out.math.push({where: where(box), width, box: box.clientWidth, text: first(tex),
                     parent: `${parent.tagName.toLowerCase()}.${cls}`});
    }
  }
  for (const pre of article.querySelectorAll('pre')) {
    if (pre.closest('.jupyter-widgets') || pre.getBoundingClientRect().width === 0)
      continue;
    out.blocks += 1;
    if (over(pre)) {
      const kind = pre.closest('.cell_output') ? 'output'
                 : pre.closest('.cell_input') ? 'code cell' : 'code block';
      const longest = Math.max(...pre.textContent.split('\\n').map(l => l.length));
      out.pre.push({where: where(pre), kind, scroll: pre.scrollWidth,
                    client: pre.clientWidth, longest, text: first(pre)});
    }
  }
  return out;
}
"""


@pytest.mark.parametrize("doc", DOCNAMES)
def test_nothing_scrolls_sideways(watched_page, book_url, doc):
    """At 1280 px wide no display equation is wider than its box (clipped or scrolling)
    and no code block or cell output scrolls sideways. Lists each one with its section
    and first characters; the counts per page are in the message."""
    page, _ = watched_page
    page.goto(book_url + f"{doc}.html", wait_until="load")
    if page.locator("article .math").count():
        wait_for_math(page)
    found = page.evaluate(OVERFLOW_JS)
    assert "error" not in found, f"{doc}: {found['error']}"
    lines = [f"equation in {m['parent']} ({m['width']} px in a {m['box']} px box) "
             f"[{m['where']}]: {m['text']!r}" for m in found["math"]]
    lines += [f"{p['kind']} scrolls ({p['scroll']} px in {p['client']} px, longest "
              f"line {p['longest']} characters) [{p['where']}]: {p['text']!r}"
              for p in found["pre"]]
    assert not lines, (
        f"{doc}: {len(found['math'])} of {found['displays']} display equations too "
        f"wide, {len(found['pre'])} of {found['blocks']} code blocks/outputs scroll "
        f"sideways at 1280 px:\n" + "\n".join(lines))


DARK_FIGURES_JS = """
() => {
  const lum = c => {                // relative luminance of an rgb()/rgba() colour
    const [r, g, b, a] = c.match(/[\\d.]+/g).map(Number).concat([1]);
    const f = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    return a === 0 ? 0 : 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const out = {theme: document.documentElement.dataset.theme, figures: 0, bad: []};
  for (const img of document.querySelectorAll('article img')) {
    if (img.closest('.jupyter-widgets')) continue;     // inside the widget's own card
    out.figures += 1;
    const cs = getComputedStyle(img);
    const l = lum(cs.backgroundColor);
    if (l < 0.8 || cs.filter !== 'none')
      out.bad.push(`${img.getAttribute('src').slice(-40)}: background ` +
                   `${cs.backgroundColor} (luminance ${l.toFixed(2)}), ` +
                   `filter ${cs.filter}`);
  }
  return out;
}
"""


def test_dark_mode_figures_sit_on_a_light_card(browser, book_url):
    """In dark mode (the reader's system asks for it) every figure of every chapter is
    shown at full brightness on a light card: matplotlib's white PNGs do not glare with
    a hard edge and nnutils.diagram's dark ink on a transparent background stays
    readable. Screenshot: artifacts/book_dark_figure.png. (Requests and errors are
    checked per page by test_page_in_browser; here a page is left once styled.)"""
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  color_scheme="dark", service_workers="block")
    context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/])"), lambda r: r.abort())
    page = context.new_page()
    problems, shot = [], False
    for doc in [d for d in DOCNAMES if d.startswith("chapters/")]:
        page.goto(book_url + f"{doc}.html", wait_until="domcontentloaded")
        found = page.evaluate(DARK_FIGURES_JS)
        assert found["theme"] == "dark", f"{doc}: not in dark mode: {found['theme']}"
        assert found["figures"], f"{doc}: no figures"
        problems += [f"{doc}: {b}" for b in found["bad"]]
        if not shot and page.locator("article .cell_output img").count():
            figure = page.locator("article .cell_output img").first
            figure.scroll_into_view_if_needed()
            figure.evaluate("img => img.decode()")
            screenshot(page, "book_dark_figure")
            shot = True
    context.close()
    assert not problems, ("figures not on a light card in dark mode:\n"
                          + "\n".join(problems[:30]))
