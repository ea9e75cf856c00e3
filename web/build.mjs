// Bundles the dashboard (src/) with xterm.js into OUT/{index.html,app.js,app.css}, which
// service/embed.S compiles into vscd. Run by make: `node web/build.mjs build/web`.
// The asset URLs in index.html carry a hash of their content, so browsers may cache them.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, '..', 'build', 'web'));
mkdirSync(out, { recursive: true });

await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: 'src/app.js' },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox115', 'safari16'],
  outdir: out,
  legalComments: 'eof',
  logLevel: 'warning',
});

const hash = (name) =>
  createHash('sha256').update(readFileSync(join(out, name))).digest('hex').slice(0, 12);
const html = readFileSync(join(here, 'src', 'index.html'), 'utf8')
  .replaceAll('app.js"', `app.js?v=${hash('app.js')}"`)
  .replaceAll('app.css"', `app.css?v=${hash('app.css')}"`);
writeFileSync(join(out, 'index.html'), html);
