/**
 * The library for the page: src/serve/browser/entry.ts bundled by esbuild (installed with tsx)
 * into one ES module for browsers, built once per server on first request. Node's built-in
 * modules (node:fs, node:path, ... used by the file loaders, never on the browser's path) are
 * replaced by empty stubs, and the backend is fixed to the js backend.
 */
import { join } from 'node:path';
import { packageRoot } from '../data/index.js';

let cached: Promise<string> | null = null;

/**
 * Stubs with content: Buffer.allocUnsafeSlow (tensor storage) becomes a zeroed Uint8Array;
 * path's string functions work on '/' paths (native.ts joins its addon path at load time).
 */
const STUBS: Record<string, string> = {
  buffer: 'module.exports = { Buffer: { allocUnsafeSlow: (n) => new Uint8Array(n) } };',
  path: `const join = (...p) => p.join('/');
module.exports = { join, resolve: join, dirname: (p) => p.replace(/\\/[^/]*$/, ''),
  basename: (p) => p.replace(/^.*\\//, ''), extname: (p) => (/\\.[^./]*$/.exec(p) || [''])[0] };`,
};

/** Node built-ins that modules of the library import. */
const BUILTIN =
  /^(node:)?(fs|path|url|module|os|crypto|worker_threads|child_process|util|process|readline|zlib|events|stream|http|net|fs\/promises|buffer)$/;

/**
 * The bundle's JavaScript text (cached).
 * @throws Error when esbuild is not installed or the bundle does not build.
 */
export function browserBundle(): Promise<string> {
  cached ??= build().catch((e: unknown) => {
    cached = null;
    throw e;
  });
  return cached;
}

async function build(): Promise<string> {
  const esbuild = await import('esbuild');
  const r = await esbuild.build({
    entryPoints: [join(packageRoot(), 'src', 'serve', 'browser', 'entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    minify: false,
    logLevel: 'silent',
    define: { 'process.env.TRANSFORMER_BACKEND': '"js"' },
    plugins: [
      {
        name: 'node-builtins-stub',
        setup(b) {
          b.onResolve({ filter: BUILTIN }, (a) => ({ path: a.path, namespace: 'stub' }));
          b.onLoad({ filter: /.*/, namespace: 'stub' }, (a) => ({
            contents: STUBS[a.path.replace(/^node:/, '')] ?? 'module.exports = {};',
            loader: 'js',
          }));
        },
      },
    ],
  });
  return r.outputFiles[0].text;
}
