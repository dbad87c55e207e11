"""Small Sphinx fixes for the HTML book (loaded through `sphinx.local_extensions` in _config.yml).

1. Re-read the glossary whenever any page changed. glossary.md collects the chapters' "Key terms"
   tables when it is executed; Sphinx only re-reads changed files, so without this an incremental
   build would keep a glossary that no longer matches the chapters.
2. Drop duplicated <script> tags. With Sphinx 7.4, inline scripts that extensions add while the
   build runs (sphinx-thebe's `const THEBE_JS_URL = ...`, sphinx-togglebutton's selector) are
   registered twice (once as filename None, once as ''); the second `const` declaration throws
   "Identifier 'THEBE_JS_URL' has already been declared" on every page.
3. Each chapter page offers its executed notebook (.ipynb, with outputs) for download.
   myst-nb writes the executed notebook of every page it reads to
   <builddir>/jupyter_execute/<docname>.ipynb; it is copied next to the page
   (chapters/chNN_x.ipynb) with each {literalinclude} replaced by the code it shows (so
   the notebook reads like the page) and the cells the page hides (remove-input,
   remove-output, remove-cell tags) collapsed in JupyterLab. A link under the title
   and a button in the header point to it. Chapters hold no exercise solution (tests
   check the notebooks too). A missing executed notebook is a build warning (an error
   under -W).
4. book.css (static/): code fits the column, figures on a light card in dark mode, print
   rules for the PDF (tools/build_pdf.py). A change to this file or to book.css rewrites
   every page.
"""
import hashlib
import re
from pathlib import Path

import nbformat
from sphinx.directives.code import LiteralIncludeReader
from sphinx.util import logging

LOG = logging.getLogger(__name__)

GLOSSARY = "glossary"


def _reread_glossary(app, env, added, changed, removed):
    if GLOSSARY in env.found_docs and (added or changed or removed):
        return [GLOSSARY]
    return []


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, keep = set(), []
    for js in scripts:
        key = (js.filename or "", js.priority, tuple(sorted(js.attributes.items())))
        if key not in seen:
            seen.add(key)
            keep.append(js)
    scripts[:] = keep          # the builder's own list: restored before the next page


CHAPTERS = "chapters/"           # docnames whose pages offer their notebook
LITERALINCLUDE = re.compile(
    r"^```\{literalinclude\}[ \t]+(?P<path>\S+)[ \t]*\n(?P<opts>(?:.*\n)*?)```[ \t]*$",
    re.M)
HIDDEN = {"remove-input": ("source_hidden",), "hide-input": ("source_hidden",),
          "remove-output": ("outputs_hidden",), "hide-output": ("outputs_hidden",),
          "remove-cell": ("source_hidden", "outputs_hidden"),
          "hide-cell": ("source_hidden", "outputs_hidden")}


def _directive_options(text):
    """Options of a MyST directive body: `:key: value` lines or a `---` YAML block."""
    text = text.strip("\n")
    if text.startswith("---"):
        import yaml
        options = yaml.safe_load(text.strip("-\n")) or {}
        return {str(k): str(v) for k, v in options.items()}
    opts = {}
    for line in text.splitlines():
        m = re.match(r"^:([\w-]+):\s*(.*)$", line)
        if not m:
            raise ValueError(f"literalinclude body line not understood: {line!r}")
        opts[m[1]] = m[2].strip()
    return opts


def _expand_literalinclude(app, docname, source):
    """Replace each ```{literalinclude} of a Markdown cell by a block of the code."""
    def repl(m):
        rel = m["path"]
        path = (Path(app.srcdir) / docname).parent / rel
        opts = _directive_options(m["opts"])
        for key in ("dedent", "lineno-start"):
            if key in opts:
                opts[key] = int(opts[key])
        code, _ = LiteralIncludeReader(str(path), opts, app.config).read()
        shown = Path(rel).as_posix().lstrip("./")
        lang = opts.get("language", "python")
        return f"```{lang}\n# {shown}\n{code.rstrip()}\n```"
    return LITERALINCLUDE.sub(repl, source)


def reader_notebook(app, docname, src):
    """The executed notebook as a reader downloads it (see 3. above)."""
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _expand_literalinclude(app, docname, cell.source)
        flags = {f for t in cell.metadata.get("tags", []) for f in HIDDEN.get(t, ())}
        if flags:
            hidden = {f: True for f in sorted(flags)}
            cell.metadata.setdefault("jupyter", {}).update(hidden)
    nbformat.validate(nb)
    return nb


def _offer_notebook(app, pagename, templatename, context, doctree):
    if (app.builder.name != "html" or not pagename.startswith(CHAPTERS)
            or doctree is None):
        return
    src = Path(app.env.mystnb_config.output_folder) / f"{pagename}.ipynb"
    if not src.is_file():
        LOG.warning("book_ext: no executed notebook %s to offer for download", src,
                    location=pagename)
        return
    target = Path(app.outdir) / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        nb = reader_notebook(app, pagename, src)
    except (ValueError, OSError) as err:   # a literalinclude it cannot expand, ...
        LOG.warning("book_ext: cannot make the notebook download: %s", err,
                    location=pagename)
        return
    target.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    name = target.name
    context.setdefault("header_buttons", []).insert(0, {
        "type": "link", "url": name, "icon": "fas fa-download", "text": ".ipynb",
        "tooltip": "Download this chapter as an executed notebook",
        "label": "download-notebook-button"})
    link = (f'<p class="nncourse-download"><a class="reference download" href="{name}" '
            f'download="{name}">Download this chapter as a notebook</a> ({name}: '
            f"executed, with its outputs; open it in JupyterLab to run and change the "
            f"code)</p>\n")
    body = context.get("body", "")
    head = body.find("</h1>")
    if head < 0:
        LOG.warning("book_ext: page has no <h1> to put the notebook link under",
                    location=pagename)
        return
    head += len("</h1>")
    context["body"] = body[:head] + "\n" + link + body[head:]


def _fingerprint():
    """Hash of this extension and its static files: a config value of category "html",
    so a change to them rewrites every page (Sphinx writes only changed pages else)."""
    here = Path(__file__).parent
    files = [Path(__file__), *sorted((here / "static").glob("*.css"))]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


def setup(app):
    app.add_config_value("book_ext_fingerprint", _fingerprint(), "html")
    app.connect("env-get-outdated", _reread_glossary)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _offer_notebook, priority=600)
    app.add_css_file("book.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
