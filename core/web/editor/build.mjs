// Bundles src/template-editor.js and what it imports into ONE minified file,
// core/web/static/vendor/template-editor.js, with a header naming every
// bundled package's version and licence and a hash of the build's inputs
// (tests/test_editor_bundle.py checks it against package-lock.json).
// Run through scripts/build-editor.
import {build} from "esbuild";
import {createHash} from "node:crypto";
import {readFileSync, readdirSync, writeFileSync, mkdirSync} from "node:fs";
import {dirname, join} from "node:path";
import {fileURLToPath} from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static", "vendor", "template-editor.js");
const inputs = ["package.json", "package-lock.json", "build.mjs",
  ...readdirSync(join(here, "src")).sort().map((name) => "src/" + name)];

const hash = createHash("sha256");
for (const name of inputs) hash.update(name + "\0" + readFileSync(join(here, name)) + "\0");

const result = await build({
  entryPoints: [join(here, "src", "template-editor.js")],
  bundle: true, minify: true, format: "iife", target: "es2020",
  legalComments: "none", write: false, metafile: true, charset: "utf8",
});

// The packages that ended up in the bundle, with their versions from the lockfile.
const lock = JSON.parse(readFileSync(join(here, "package-lock.json"), "utf8")).packages;
const used = new Set();
for (const path of Object.keys(result.metafile.inputs)) {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  if (match) used.add(match[1]);
}
const packages = [...used].sort().map((name) => {
  const entry = lock["node_modules/" + name];
  return `${name}@${entry.version} (${entry.license})`;
});
const header = [
  "/* Postwerk's template editor: CodeMirror 6, built by scripts/build-editor from core/web/editor/.",
  "   Do not edit; change core/web/editor/src/ and rebuild.",
  "   CodeMirror and Lezer: MIT License, Copyright (C) 2018-2021 by Marijn Haverbeke and others.",
  "   inputs-sha256: " + hash.digest("hex"),
  ...packages.map((p) => "   package: " + p),
  "*/",
].join("\n");
mkdirSync(dirname(out), {recursive: true});
writeFileSync(out, header + "\n" + result.outputFiles[0].text);
console.log(`${out}: ${Math.round((header.length + result.outputFiles[0].contents.length) / 1024)} KB, ${packages.length} packages`);
