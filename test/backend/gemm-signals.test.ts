/**
 * Signals during GEMMs (native/gemm.c, "Signals"): oneDNN 2.6's JIT f32 GEMM kernels point
 * rsp at their heap workspace, so a signal delivered mid-kernel wrote its frame into the
 * heap (uxlfoundation/oneDNN#4845) and `node --cpu-prof` aborted every long-attention bench
 * row with "corrupted size vs. prev_size". Every GEMM library that loads here runs
 * thousands of GEMMs in a child process profiled with SIGPROF every 50 us; the child must
 * exit cleanly with the sum the same GEMMs give without the profiler (openblas).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadNativeAddon } from '../../src/backend/native.js';

const addon = loadNativeAddon();
const libraries = 'error' in addon ? [] : addon.gemmInfo().available.filter((l) => l !== 'auto');
const fixture = join(dirname(fileURLToPath(import.meta.url)), 'gemm-signals.fixture.ts');

/** Runs the fixture with `lib`, profiled (SIGPROF every 50 us) or not. */
function run(
  lib: string,
  profiled: boolean,
): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gemm-signals-'));
  try {
    const prof = profiled ? ['--cpu-prof', '--cpu-prof-interval', '50', '--cpu-prof-dir', dir] : [];
    const r = spawnSync(process.execPath, [...prof, '--import', 'tsx', fixture, lib], {
      encoding: 'utf8',
      env: { ...process.env, TRANSFORMER_THREADS: '1' },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The fixture's sum without the profiler, on openblas (computed once). */
let unprofiled: number | undefined;
function plainSum(): number {
  if (unprofiled === undefined) {
    const plain = run('openblas', false);
    assert.equal(plain.status, 0, plain.stderr);
    unprofiled = (JSON.parse(plain.stdout.trim().split('\n').pop()!) as { sum: number }).sum;
  }
  return unprofiled;
}

describe('GEMMs under a sampling profiler (signals mid-kernel)', () => {
  for (const lib of libraries.length ? libraries : ['openblas'])
    test(`${lib}: 3000 GEMMs under --cpu-prof exit cleanly with the unprofiled sum`, (t: TestContext) => {
      if ('error' in addon) return t.skip(`addon not built: ${addon.error}`);
      const r = run(lib, true);
      assert.equal(r.status, 0, `child exited with ${r.status}: ${r.stderr.trim().slice(-400)}`);
      const got = JSON.parse(r.stdout.trim().split('\n').pop()!) as { sum: number };
      const want = plainSum(); // bf16 products (1 call in 8) differ by their rounding only
      assert.ok(Math.abs(got.sum - want) <= 1e-2 * Math.abs(want), `${got.sum} vs ${want}`);
    });
});
