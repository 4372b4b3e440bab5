#!/usr/bin/env node
// npm `install` script: builds the native backend (binding.gyp -> build/Release/transformer_native.node
// and transformer_testhooks.node)
// with node-gyp. It never fails the install: on any error it prints one warning and exits 0,
// and transformer-ts falls back to the slower js backend. TRANSFORMER_SKIP_NATIVE=1 skips it.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function warn(reason) {
  console.warn(
    `transformer-ts: native backend not built: ${reason}; transformer-ts will use the slower js backend`,
  );
  process.exit(0);
}

/** node-gyp's entry script: npm's own copy first, then a local install. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    // .../npm/bin/npm-cli.js -> .../npm/node_modules/node-gyp/bin/node-gyp.js
    const npmDir = path.resolve(path.dirname(process.env.npm_execpath), '..');
    candidates.push(path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  candidates.push(
    path.join(
      prefix,
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  );
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] }));
  } catch {
    /* not installed locally */
  }
  return candidates.find((c) => fs.existsSync(c));
}

function main() {
  if (process.env.TRANSFORMER_SKIP_NATIVE === '1') {
    console.warn('transformer-ts: TRANSFORMER_SKIP_NATIVE=1, native backend not built');
    return;
  }
  if (process.platform === 'win32') warn('Windows builds are not supported');
  const gyp = findNodeGyp();
  if (!gyp) warn('node-gyp not found (it comes with npm)');

  const args = [gyp, 'rebuild'];
  // Use the installed Node headers when present, so no download is needed (offline builds).
  if (!process.env.npm_config_nodedir) {
    const prefix = path.resolve(path.dirname(process.execPath), '..');
    if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
      args.push(`--nodedir=${prefix}`);
    }
  }
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  if (r.error) warn(`cannot run node-gyp: ${r.error.message}`);
  if (r.status !== 0) {
    const log = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
    const lines = log.split('\n');
    let reason = `node-gyp exited with status ${r.status}`;
    if (/cblas\.h: No such file|cannot find -lopenblas|libopenblas[^ ]*: No such file/i.test(log)) {
      reason = 'OpenBLAS not found (install libopenblas-dev)';
    } else {
      const err = lines.find((l) => /error:|gyp ERR! stack Error|not found/i.test(l));
      if (err) reason += ` (${err.trim()})`;
    }
    if (process.env.TRANSFORMER_NATIVE_VERBOSE === '1') process.stderr.write(log);
    warn(reason);
  }
  // Two targets: the production addon and transformer_testhooks (the same sources with
  // the benchmark and test hooks compiled in; see native/README.md).
  for (const name of ['transformer_native', 'transformer_testhooks']) {
    const out = path.join(root, 'build', 'Release', `${name}.node`);
    if (!fs.existsSync(out)) warn(`node-gyp finished but ${out} is missing`);
  }
  console.log(
    'transformer-ts: native backend built (build/Release/transformer_native.node, transformer_testhooks.node)',
  );
}

main();
