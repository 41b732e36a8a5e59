// Bundles the dashboard into dist/app.js and dist/app.css with esbuild.
// Only the JSON serializer of autobahn is used in the browser, so its
// binary-serializer dependencies (which need Node's Buffer and streams) are
// replaced by small stubs; the output is committed so `go build` needs no npm.
import * as esbuild from 'esbuild';
import { copyFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
// TELEMESH_WEB_OUT builds elsewhere, for the test that checks dist/ is current.
const out = process.env.TELEMESH_WEB_OUT || path.join(here, 'dist');
const stub = (name) => path.join(here, 'src', 'stub', name);

await esbuild.build({
  entryPoints: { app: path.join(here, 'src', 'main.js') },
  bundle: true,
  minify: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020'],
  outdir: out,
  legalComments: 'none',
  logLevel: 'warning',
  define: { global: 'globalThis' },
  alias: {
    cbor: stub('cbor.js'),
    msgpack5: stub('msgpack5.js'),
    when: stub('nowhen.js'),
    'when/monitor/console': stub('empty.js'),
    fs: stub('empty.js'),
  },
});
copyFileSync(path.join(here, 'src', 'index.html'), path.join(out, 'index.html'));
