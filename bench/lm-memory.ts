/**
 * Case 5, memory: peak resident memory over 50 training steps of the case-1 model, ours
 * and the peer's, each in a fresh process. Ours: a child `node --import tsx
 * bench/lm-memory.ts --child` reads VmHWM from /proc/self/status after the steps; the
 * peer: resource.getrusage(RUSAGE_SELF).ru_maxrss (bench/peer/lm_train.py, mode mem, at
 * the thread setting that was fastest in case 1's peer sweep: torch 1, OpenBLAS 2).
 * Both include the runtime itself (node + tsx, python + torch).
 * Target (issue 5): ours <= the peer's.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setBackend } from '../src/backend/index.js';
import { LMBatches, lmStep, makeLM } from './lm-common.js';
import type { CaseResult, Row } from './matmul.js';
import { r2, runPeer } from './peer.js';

const STEPS = 50;

function vmHwmKb(): number {
  const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Child mode: run the steps and print the peak RSS (kB) as JSON. */
function child(): void {
  setBackend('native');
  const { model, opt } = makeLM();
  const data = new LMBatches(0);
  for (let i = 0; i < STEPS; i++) {
    const { x, y } = data.next();
    lmStep(model, opt, x, y);
  }
  console.log(JSON.stringify({ maxrss_kb: vmHwmKb() }));
}

export async function lmMemoryCase(): Promise<CaseResult> {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--child'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`lm-memory child failed: ${r.stderr}`);
  const ours = (JSON.parse(r.stdout.trim().split('\n').pop()!) as { maxrss_kb: number }).maxrss_kb;
  const peer = runPeer('lm_train.py', { mode: 'mem', steps: STEPS, threads: 1 }, 2);
  const peerKb = 'maxrss_kb' in peer ? Number(peer.maxrss_kb) : null;
  const row: Row = {
    metric: 'peak RSS MB',
    ours: r2(ours / 1024),
    peer: peerKb ? r2(peerKb / 1024) : null,
    ratio: peerKb ? r2(ours / peerKb) : null,
    target: '<= 1 (ours / peer)',
  };
  const notes = [
    `${STEPS} steps of case 1, fresh process each; ours VmHWM, peer ru_maxrss${peerKb ? '' : `; peer unavailable (${'error' in peer ? peer.error : ''})`}`,
  ];
  return { title: 'lm-memory (case 5: peak resident memory, 50 steps)', rows: [row], notes };
}

if (process.argv.includes('--child')) child();
