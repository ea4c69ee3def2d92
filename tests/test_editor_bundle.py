"""The committed template editor bundle is what core/web/editor/ builds
(issue 17): its header names the lockfile's versions and a hash of the build's
inputs, so a change to the sources or the lockfile without `scripts/build-editor`
fails here. Neither node nor npm is needed to run this."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EDITOR = ROOT / "core" / "web" / "editor"
BUNDLE = ROOT / "core" / "web" / "static" / "vendor" / "template-editor.js"


def header() -> str:
    text = BUNDLE.read_text(encoding="utf-8")
    assert text.startswith("/*")
    return text[: text.index("*/")]


def test_the_bundle_was_built_from_the_committed_inputs():
    # The same hash as build.mjs: each input's name and text, NUL-separated, in this order.
    names = ["package.json", "package-lock.json", "build.mjs"]
    names += sorted("src/" + p.name for p in (EDITOR / "src").iterdir())
    digest = hashlib.sha256()
    for name in names:
        digest.update((name + "\0" + (EDITOR / name).read_text(encoding="utf-8") + "\0").encode())
    assert f"inputs-sha256: {digest.hexdigest()}" in header(), "run scripts/build-editor and commit the bundle"


def test_the_bundled_packages_are_the_lockfiles_versions_and_mit():
    lock = json.loads((EDITOR / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    bundled = re.findall(r"package: (\S+)@(\S+) \((\S+)\)", header())
    assert any(name == "@codemirror/view" for name, _, _ in bundled)
    for name, version, licence in bundled:
        entry = lock[f"node_modules/{name}"]
        assert (version, licence) == (entry["version"], entry["license"]) == (entry["version"], "MIT")
    # Every package the editor names as its own dependency is in the bundle.
    direct = json.loads((EDITOR / "package.json").read_text(encoding="utf-8"))["dependencies"]
    assert set(direct) <= {name for name, _, _ in bundled}


def test_the_bundle_needs_no_eval_under_the_apps_csp():
    from core.web.security import CSP

    assert "script-src 'self';" in CSP and "unsafe-eval" not in CSP
    text = BUNDLE.read_text(encoding="utf-8")
    assert "eval(" not in text and "new Function" not in text
    assert "template-editor.js" in (ROOT / "core/web/templates/admin/template_edit.html").read_text()
