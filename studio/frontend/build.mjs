// Bundles the Studio into ../static/studio/ with versioned names (the package version), and
// gathers the licences of every bundled package next to the bundles.
import { build } from "esbuild";
import { readFileSync, writeFileSync, readdirSync, rmSync, existsSync } from "node:fs";
import { join } from "node:path";

const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const out = "../static/studio";
const version = pkg.version;

for (const name of readdirSync(out)) {
  if (/^(app|graph)-.*\.(js|css)$/.test(name)) rmSync(join(out, name));
}

// NO_MINIFY=1 node build.mjs: readable bundles, for reading a browser's stack trace (never commit them).
const common = { bundle: true, minify: !process.env.NO_MINIFY, legalComments: "none", target: ["es2020"], logLevel: "info" };
await build({ ...common, entryPoints: ["src/app.js"], format: "esm", outfile: `${out}/app-${version}.js` });
await build({ ...common, entryPoints: ["src/graph-embed.js"], format: "iife", outfile: `${out}/graph-${version}.js` });
await build({ ...common, entryPoints: ["src/app.css"], outfile: `${out}/app-${version}.css` });

const lines = [
  "Weft Studio bundles (app-*.js, graph-*.js, app-*.css) include these packages, pinned in",
  "studio/frontend/package-lock.json. Their licences follow.", "",
];
for (const name of Object.keys(pkg.dependencies).sort()) {
  const dir = join("node_modules", name);
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  lines.push("=".repeat(78), `${name} ${meta.version} — ${meta.license}`, "=".repeat(78));
  lines.push(file ? readFileSync(join(dir, file), "utf8").trim() : `License: ${meta.license} (no licence file shipped)`, "");
}
writeFileSync(`${out}/LICENSES.txt`, lines.join("\n"));
if (!existsSync(`${out}/app-${version}.js`)) process.exit(1);
