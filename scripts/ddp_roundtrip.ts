/**
 * The PyTorch DDP round trip (issue 16; not in CI: it needs Debian's python3-torch):
 *
 *   1. train a small model with our CLI (a few steps);
 *   2. `transformer export --format torch` with the batches of our next steps;
 *   3. our loss on the first exported batch (eval mode: no dropout);
 *   4. `torchrun --nproc_per_node 2 train_ddp.py --dropout 0` for 20 steps (DDP, gloo, CPU):
 *      its first loss (rank 0, batch 0, before any update) must equal ours within 1e-4;
 *   5. load the checkpoint PyTorch wrote and score it with `transformer eval`, beside ours.
 *
 * Usage: node --import tsx scripts/ddp_roundtrip.ts [--task lm|translate|classify]
 *   [--our-steps N] [--torch-steps 20] [--nproc 2] [--work DIR] [--python /usr/bin/python3]
 * Prints a Markdown table of the figures; exits 1 when the losses differ by more than 1e-4.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { load } from '../src/tasks/load.js';
import { batchLoss, readBatches, type TorchExportable } from '../src/export/torch/index.js';

const { values: a } = parseArgs({
  options: {
    task: { type: 'string', default: 'lm' },
    'our-steps': { type: 'string' },
    'torch-steps': { type: 'string', default: '20' },
    nproc: { type: 'string', default: '2' },
    work: { type: 'string' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
/** Per task: the data set, our CLI's extra training options, the steps we train, eval options. */
const TASKS: Record<string, { data: string; train: string[]; steps: number; evalArgs: string[] }> =
  {
    lm: { data: 'tinyshakespeare', train: [], steps: 300, evalArgs: [] },
    translate: {
      data: 'freedict-de-en',
      train: [],
      steps: 200,
      evalArgs: ['--limit', '300', '--beam', '1'],
    },
    classify: { data: 'spamassassin', train: [], steps: 100, evalArgs: [] },
  };
const t = TASKS[a.task!];
if (!t) throw new Error(`--task must be one of ${Object.keys(TASKS).join(', ')}, got '${a.task}'`);
const ourSteps = Number(a['our-steps'] ?? t.steps);
const torchSteps = Number(a['torch-steps']);
const nproc = Number(a.nproc);
const work = resolve(a.work ?? mkdtempSync(join(tmpdir(), 'ddp-roundtrip-')));
const cli = (args: string[]): string =>
  execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
const timed = <T>(f: () => T): [T, number] => {
  const t0 = Date.now();
  const r = f();
  return [r, (Date.now() - t0) / 1000];
};

const ours = join(work, 'ours');
const exported = join(work, 'torch');
const ckpt = join(work, 'ckpt');
rmSync(ours, { recursive: true, force: true });
const common = ['--task', a.task!, '--data', t.data];
const [, trainSeconds] = timed(() =>
  cli(['train', ...common, ...t.train, '--steps', String(ourSteps), '--out', ours, '--overwrite']),
);
const [, exportSeconds] = timed(() =>
  cli([
    'export',
    '--format',
    'torch',
    '--model',
    ours,
    '--out',
    exported,
    '--data',
    t.data,
    '--first-step',
    String(ourSteps + 1),
    '--steps',
    String(torchSteps),
    '--nproc',
    String(nproc),
  ]),
);
const recipe = JSON.parse(readFileSync(join(exported, 'train_config.json'), 'utf8')) as {
  labelSmoothing: number;
};
const { batches, metadata } = readBatches(join(exported, 'train_batches.safetensors'));
const model = (load(ours) as { model: unknown }).model as TorchExportable;
const ourLoss = batchLoss(model, batches[0], recipe.labelSmoothing, Number(metadata.pad_id));
const ourMean =
  batches
    .slice(0, nproc)
    .reduce((s, b) => s + batchLoss(model, b, recipe.labelSmoothing, Number(metadata.pad_id)), 0) /
  nproc;

// Debian 12's torch 1.13 on Python 3.11: torchrun's default `--redirects 0` fails (an IntFlag
// change in 3.11 makes Std.from_str('0') None), so stdout is redirected to a log and teed.
const [, torchSeconds] = timed(() =>
  execFileSync(
    a.python!,
    [
      '-m',
      'torch.distributed.run',
      '--nproc_per_node',
      String(nproc),
      '--redirects',
      '1',
      '--tee',
      '1',
      '--log_dir',
      join(work, 'torchrun-logs'),
      'train_ddp.py',
      '--out',
      ckpt,
      '--dropout',
      '0',
    ],
    {
      cwd: exported,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    },
  ),
);
const losses = readFileSync(join(ckpt, 'losses.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { step: number; loss: number; loss_mean: number; seconds: number });
const first = losses[0];
const diff = Math.abs(first.loss - ourLoss);
const last = losses[losses.length - 1];
const evalOf = (dir: string): string =>
  cli(['eval', '--model', dir, '--data', t.data, '--json', ...t.evalArgs]).trim();
const [evalOurs, evalSecondsOurs] = timed(() => evalOf(ours));
const [evalTorch] = timed(() => evalOf(ckpt));

const rows: [string, string][] = [
  ['task, data', `${a.task}, ${t.data}`],
  [
    'our training',
    `${ourSteps} steps, ${trainSeconds.toFixed(1)} s (transformer train, incl. start-up)`,
  ],
  [
    'export',
    `${exportSeconds.toFixed(1)} s, ${batches.length} batches (our steps ${ourSteps + 1}-${ourSteps + batches.length})`,
  ],
  ['first loss, ours (batch 0, eval mode)', ourLoss.toFixed(7)],
  ['first loss, PyTorch (rank 0, step 1, dropout 0)', first.loss.toFixed(7)],
  ['abs difference (must be <= 1e-4)', diff.toExponential(2)],
  [
    `mean over the ${nproc} ranks' first batches, ours / PyTorch`,
    `${ourMean.toFixed(7)} / ${first.loss_mean.toFixed(7)}`,
  ],
  [
    `PyTorch DDP: ${nproc} processes, ${losses.length} steps`,
    `loss ${first.loss_mean.toFixed(4)} -> ${last.loss_mean.toFixed(4)} (mean over ranks), ${last.seconds.toFixed(1)} s of steps, ${torchSeconds.toFixed(1)} s with torchrun start-up`,
  ],
  ['transformer eval, our checkpoint', `${evalOurs} (${evalSecondsOurs.toFixed(1)} s)`],
  ['transformer eval, the PyTorch checkpoint', evalTorch],
];
console.log(`DDP round trip (work folder ${work}; shared machine, under nice):\n`);
console.log('| | |\n| --- | --- |');
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
if (!(diff <= 1e-4)) {
  console.error(`FAIL: PyTorch's first loss ${first.loss} differs from ours ${ourLoss} by ${diff}`);
  process.exit(1);
}
