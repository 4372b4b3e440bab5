/**
 * Generates docs/representations.md (issue #18): with a small labelled set (200 training
 * examples of the spam set by default) and the rest of its training split as unlabelled
 * text, one table of test accuracy and time for
 *
 * - one-hot (binary BoW) + naive Bayes, BoW counts + naive Bayes, TF-IDF + logistic
 *   regression (`train --arch bow-nb | tfidf-logreg`);
 * - the Transformer classifier from scratch;
 * - the same with its token embedding initialized from Skip-gram vectors trained on the
 *   unlabelled text (`vectors train`, then `train --init-embeddings`);
 * - the same encoder pre-trained by masked LM on the unlabelled text, then fine-tuned
 *   (`pretrain --objective mlm`, then `train --init`), and pre-trained as a causal LM.
 *
 * Every run is a `transformer` command (run as a child process, timed as a whole); the
 * table gives each command line. All runs use the same labelled file, the same validation
 * file and are scored by `transformer eval` on the same held-out test file (the data set's
 * own test split). Texts are written one per line: tabs and line breaks become spaces.
 * The built-in sets hold one classification set (spamassassin); `--data FILE.tsv` runs the
 * same comparison on another.
 *
 *   node --import tsx scripts/report-representations.ts [--labelled 200] [--preset small]
 *     [--pretrain-steps 1000] [--w2v-epochs 5] [--epochs E] [--out docs/representations.md]
 *
 * Smoke test (minutes): --labelled 60 --preset tiny --pretrain-steps 20 --w2v-epochs 1
 *   --steps 20 --max-len 64 --unlabelled 300 --out /tmp/representations.md
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadTaskData } from '../src/tasks/data.js';
import { classifierPresets } from '../src/tasks/classify.js';
import { Generator } from '../src/random.js';
import type { LabeledText } from '../src/data/index.js';
import { runEnvironment } from './report-env.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');

const { values: a } = parseArgs({
  options: {
    data: { type: 'string', default: 'spamassassin' },
    labelled: { type: 'string', default: '200' },
    unlabelled: { type: 'string' },
    preset: { type: 'string', default: 'small' },
    steps: { type: 'string' },
    epochs: { type: 'string' },
    'pretrain-steps': { type: 'string', default: '1000' },
    'max-len': { type: 'string', default: '256' },
    'w2v-epochs': { type: 'string', default: '5' },
    seed: { type: 'string', default: '1337' },
    out: { type: 'string', default: join(ROOT, 'docs', 'representations.md') },
  },
});

/** One timed `transformer` command: its output, seconds and the command line shown. */
function transformer(args: string[]): {
  out: string;
  err: string;
  seconds: number;
  command: string;
} {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0)
    throw new Error(`transformer ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  process.stderr.write(`  ${seconds.toFixed(1)} s: transformer ${args.join(' ')}\n`);
  return { out: r.stdout, err: r.stderr, seconds, command: `transformer ${args.join(' ')}` };
}

/** Write examples as text<TAB>label, one a line (tabs and line breaks in texts as spaces). */
function writeTsv(path: string, exs: readonly LabeledText[]): void {
  const clean = (t: string) => t.replace(/[\t\r\n]+/g, ' ').trim();
  writeFileSync(path, exs.map((e) => `${clean(e.text)}\t${e.label}`).join('\n') + '\n');
}

/** A seeded shuffle (Fisher-Yates). */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const g = new Generator(seed);
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = g.randint(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

interface Row {
  name: string;
  accuracy: number;
  /** Seconds of the labelled training run, and of the unlabelled pre-training (if any). */
  train: number;
  pre: number;
  commands: string[];
  note?: string;
}

function main(): void {
  const work = mkdtempSync(join(tmpdir(), 'representations-'));
  const seed = Number(a.seed);
  const split = loadTaskData('classify', a.data!);
  const pool = shuffled(split.train, seed);
  const labelled = pool.slice(0, Number(a.labelled));
  const unlabelled = pool.slice(0, a.unlabelled ? Number(a.unlabelled) : pool.length);
  const [trainTsv, validTsv, testTsv] = ['labelled.tsv', 'valid.tsv', 'test.tsv'].map((f) =>
    join(work, f),
  );
  writeTsv(trainTsv, labelled);
  writeTsv(validTsv, split.valid);
  writeTsv(testTsv, split.test);
  const text = join(work, 'unlabelled.txt'); // documents separated by blank lines
  writeFileSync(text, unlabelled.map((e) => e.text.replace(/\s*\n\s*\n\s*/g, '\n')).join('\n\n'));
  // Word2vec tokens as the BPE pre-tokenizer cuts them: punctuation apart from words.
  const w2vText = join(work, 'w2v.txt');
  writeFileSync(
    w2vText,
    unlabelled.map((e) => e.text.replace(/([^\p{L}\p{N}\s])/gu, ' $1 ')).join('\n'),
  );
  const dModel = (classifierPresets as Record<string, { dModel: number }>)[a.preset!].dModel;
  const rows: Row[] = [];
  const evalAcc = (dir: string) =>
    JSON.parse(transformer(['eval', '--model', dir, '--data', testTsv, '--json']).out)
      .accuracy as number;
  const data = ['--data', trainTsv, '--valid', validTsv, '--seed', a.seed!];
  const baseline = (name: string, arch: string, config?: object) => {
    const out = join(work, arch + (config ? '-binary' : ''));
    const extra: string[] = [];
    if (config) {
      const f = join(work, `${arch}.json`);
      writeFileSync(f, JSON.stringify(config));
      extra.push('--config', f);
    }
    const r = transformer([
      'train',
      '--task',
      'classify',
      '--arch',
      arch,
      ...data,
      ...extra,
      '--out',
      out,
    ]);
    rows.push({ name, accuracy: evalAcc(out), train: r.seconds, pre: 0, commands: [r.command] });
  };
  const counts = new Map<string, number>();
  for (const e of labelled) counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
  const majority = [...counts].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))[0][0];
  rows.push({
    name: `majority class of the labelled set ('${majority}')`,
    accuracy: split.test.filter((e) => e.label === majority).length / split.test.length,
    train: 0,
    pre: 0,
    commands: [],
  });
  baseline('one-hot (binary BoW) + naive Bayes', 'bow-nb', { binary: true });
  baseline('bag of words (counts) + naive Bayes', 'bow-nb');
  baseline('TF-IDF + logistic regression', 'tfidf-logreg');

  const loop = [
    ...(a.steps ? ['--steps', a.steps] : []),
    ...(a.epochs ? ['--epochs', a.epochs] : []),
  ];
  const transformerRun = (name: string, dirName: string, init: string[], pre: Row | null) => {
    const out = join(work, dirName);
    const shape = init.includes('--init') ? [] : ['--preset', a.preset!];
    const r = transformer([
      'train',
      '--task',
      'classify',
      ...data,
      ...shape,
      ...loop,
      ...init,
      '--out',
      out,
    ]);
    const coverage = /initialized (\d+ of \d+) token embedding rows/.exec(r.err)?.[1];
    rows.push({
      name,
      accuracy: evalAcc(out),
      train: r.seconds,
      pre: pre?.pre ?? 0,
      commands: [...(pre?.commands ?? []), r.command],
      note: coverage
        ? `embedding rows initialized from the vectors: ${coverage}`
        : pre?.note && `pre-training best validation loss ${pre.note}`,
    });
  };
  transformerRun('Transformer from scratch', 'scratch', [], null);

  const vec = join(work, 'vectors.txt');
  const w = transformer(
    ['vectors', 'train', '--data', w2vText, '--out', vec, '--dim', String(dModel)].concat([
      '--epochs',
      a['w2v-epochs']!,
      '--min-count',
      '2',
      '--seed',
      a.seed!,
    ]),
  );
  const w2v: Row = { name: '', accuracy: 0, train: 0, pre: w.seconds, commands: [w.command] };
  transformerRun(
    'Transformer, Skip-gram-initialized embedding',
    'w2v',
    ['--init-embeddings', vec],
    w2v,
  );

  for (const objective of ['mlm', 'causal']) {
    const dir = join(work, `pre-${objective}`);
    const p = transformer(
      ['pretrain', '--objective', objective, '--data', text, '--out', dir].concat([
        '--preset',
        a.preset!,
        '--steps',
        a['pretrain-steps']!,
        '--max-len',
        a['max-len']!,
        '--seed',
        a.seed!,
      ]),
    );
    const valid = /best validation loss ([\d.]+)/.exec(p.err)?.[1];
    const pre: Row = {
      name: '',
      accuracy: 0,
      train: 0,
      pre: p.seconds,
      commands: [p.command],
      note: valid,
    };
    const label = objective === 'mlm' ? 'masked LM (BERT)' : 'causal LM (GPT)';
    transformerRun(
      `Transformer pre-trained by ${label}, fine-tuned`,
      `ft-${objective}`,
      ['--init', dir],
      pre,
    );
  }
  writeReport(rows, {
    labelled: labelled.length,
    unlabelled: unlabelled.length,
    test: split.test.length,
    valid: split.valid.length,
  });
}

function writeReport(
  rows: Row[],
  n: { labelled: number; unlabelled: number; test: number; valid: number },
): void {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: ROOT,
    encoding: 'utf8',
  }).trim();
  const argv = process.argv.slice(2).join(' ');
  const lines = [
    '# Word representations and pre-training: a small labelled set',
    '',
    `Generated by \`node --import tsx scripts/report-representations.ts${argv ? ' ' + argv : ''}\` at commit ${commit}, ${new Date().toISOString().slice(0, 10)};`,
    `machine: ${runEnvironment()} (times are indicative when other jobs share it), seed ${a.seed}.`,
    '',
    `Data: \`${a.data}\`, its deterministic train/valid/test split (as \`transformer train\` makes it). ${n.labelled} labelled training examples (a seeded sample of the training split), the ${n.valid} validation examples for the validation loss during training (the model kept is the last step's), accuracy on the ${n.test} held-out test examples. Pre-training (word2vec, masked LM, causal LM) reads ${n.unlabelled} texts of the training split without their labels. Transformer shape: preset \`${a.preset}\`, context ${a['max-len']} tokens for the pre-trained runs (the classifier's default 256 otherwise).`,
    '',
    '| representation / model | test accuracy | training s | pre-training s |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${(r.accuracy * 100).toFixed(2)}% | ${r.commands.length ? r.train.toFixed(1) : '-'} | ${r.pre ? r.pre.toFixed(1) : '-'} |`,
    ),
    '',
    'Times include process start-up, tokenizer training and evaluation during training, not the final `eval`.',
    '',
    '## Commands',
    '',
    ...rows
      .filter((r) => r.commands.length)
      .flatMap((r) => [
        `**${r.name}**${r.note ? ` (${r.note})` : ''}`,
        '',
        '```sh',
        ...r.commands,
        '```',
        '',
      ]),
    "(Paths are the script's temporary folder; `labelled.tsv`, `valid.tsv`, `test.tsv` and `unlabelled.txt` are written by the script from the data set.)",
    '',
  ];
  mkdirSync(dirname(a.out!), { recursive: true });
  writeFileSync(a.out!, lines.join('\n'));
  process.stderr.write(`wrote ${a.out}\n`);
}

main();
