"""Small Sphinx fixes for the HTML book (loaded through `sphinx.local_extensions` in _config.yml).

1. Re-read the glossary whenever any page changed. glossary.md collects the chapters' "Key terms"
   tables when it is executed; Sphinx only re-reads changed files, so without this an incremental
   build would keep a glossary that no longer matches the chapters.
2. Drop duplicated <script> tags. With Sphinx 7.4, inline scripts that extensions add while the
   build runs (sphinx-thebe's `const THEBE_JS_URL = ...`, sphinx-togglebutton's selector) are
   registered twice (once as filename None, once as ''); the second `const` declaration throws
   "Identifier 'THEBE_JS_URL' has already been declared" on every page.
"""

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


def setup(app):
    app.connect("env-get-outdated", _reread_glossary)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
