// Prints the size of the production JavaScript, raw and gzipped (what a
// browser downloads). Run after `vite build`; exits 1 if there is no build.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const dir = new URL('../dist/', import.meta.url).pathname;
const assets = join(dir, 'assets');
if (!existsSync(assets)) {
  console.error(`bundle-size: ${assets} does not exist; run "vite build" first`);
  process.exit(1);
}
const html = existsSync(join(dir, 'index.html')) ? readFileSync(join(dir, 'index.html'), 'utf8') : '';
const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
const files = readdirSync(assets)
  .filter((f) => f.endsWith('.js') || f.endsWith('.css'))
  .sort()
  .map((f) => {
    const buf = readFileSync(join(assets, f));
    return { f, raw: buf.length, gz: gzipSync(buf, { level: 9 }).length, initial: html.includes(`/assets/${f}`) };
  });

let jsRaw = 0, jsGz = 0, initialGz = 0;
console.log('bundle size (gzip -9):');
for (const { f, raw, gz, initial } of files) {
  console.log(`  ${f.padEnd(44)} ${kb(raw).padStart(10)} ${kb(gz).padStart(10) } gzip${initial ? '  (loaded by index.html)' : ''}`);
  if (f.endsWith('.js')) {
    jsRaw += raw;
    jsGz += gz;
    if (initial) initialGz += gz;
  }
}
console.log(`JS total: ${kb(jsRaw)} raw, ${kb(jsGz)} gzipped; loaded at start: ${kb(initialGz)} gzipped`);
