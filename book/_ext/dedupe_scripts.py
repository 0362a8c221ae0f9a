"""Drop duplicated inline scripts from every HTML page.

Sphinx 7.4 (which Jupyter Book 1.x pins) registers an inline script added after ``builder-inited`` twice: once as
``add_js_file(None, body=...)`` and again, in ``prepare_writing``, as ``add_js_file('', body=...)``. The two do not
compare equal, so the page gets both, and sphinx-thebe's ``const THEBE_JS_URL = ...`` is declared twice, a script
error in every browser. This extension keeps the first of each identical script.
"""
from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique  # the builder restores its own list after each page


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
