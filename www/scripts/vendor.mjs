// Copies the npm-installed libraries' dist files into vendor/, which is committed so that
// `cargo build` embeds them without Node. Run after `npm ci` whenever package.json changes.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const www = join(dirname(fileURLToPath(import.meta.url)), '..');
const files = [
  ['node_modules/uplot/dist/uPlot.esm.js', 'vendor/uPlot.esm.js'],
  ['node_modules/uplot/dist/uPlot.min.css', 'vendor/uPlot.min.css'],
  ['node_modules/uplot/LICENSE', 'vendor/uPlot.LICENSE.txt'],
];
mkdirSync(join(www, 'vendor'), { recursive: true });
for (const [from, to] of files) {
  copyFileSync(join(www, from), join(www, to));
  console.log(`${from} -> ${to}`);
}
