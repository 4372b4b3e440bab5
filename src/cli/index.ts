/**
 * The `transformer` command line (argument parsing by commander):
 *   train, translate, generate, classify, eval, attention, info.
 * Each command validates its options and names the bad one in its error.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { availableBackends, backend, nativeBackendError, setNumThreads } from '../backend/index.js';
import { describeAttentionVariants } from '../attention/registry.js';
import { describePositions } from '../attention/positions.js';
import { describeHeads } from '../attention/heads.js';
import { describeDatasets, packageRoot } from '../data/index.js';
import { runTrain, type TrainCommandOptions } from './train.js';
import { MIN_DEFAULT_STEPS, TRANSLATE_EPOCHS } from './train-options.js';
import { DEFAULT_LENGTH_PENALTY } from '../tasks/translate.js';
import { runEval, runInfer } from './infer.js';
import { output } from './output.js';
import { registerPrecisionOption } from './precision.js';
import {
  runVectorsAnalogy,
  runVectorsEvaluate,
  runVectorsNeighbors,
  runVectorsTrain,
} from './vectors.js';
import { registerPretrainCommand } from './pretrain.js';
import { registerExportCommand } from './export.js';
import { registerServeCommand } from './serve.js';

export function int(name: string, min = 1): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
}
export function float(name: string, min = 0, max = Infinity): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}], got '${v}'`);
    }
    return n;
  };
}

/** Lines to process: the TEXT arguments, or stdin's lines when there are none. */
export function inputLines(texts: string[]): string[] {
  if (texts.length > 0) return texts;
  if (process.stdin.isTTY) throw new Error('no TEXT given and nothing on standard input');
  return readFileSync(0, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
}

/** The package's version, from package.json. */
export function version(): string {
  return (JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')) as { version: string })
    .version;
}

/** `transformer info`: backends; with --attention the variant registries; with --data the data sets. */
function printInfo(o: { attention?: boolean; data?: boolean }): void {
  const lines: string[] = [];
  if (o.attention) {
    lines.push('attention (--attention NAME[:key=value,...]):', ...describeAttentionVariants());
    lines.push('', 'positions (--position):', ...describePositions());
    lines.push('', 'heads (--heads):', ...describeHeads());
  }
  if (o.data) {
    if (lines.length) lines.push('');
    lines.push('built-in data sets (--data NAME):');
    lines.push(...describeDatasets());
  }
  if (!o.attention && !o.data) {
    lines.push(`transformer-ts ${version()}`, `backend: ${backend().name}`);
    lines.push(`available: ${availableBackends().join(', ')}`);
    const err = nativeBackendError();
    if (err) lines.push(`native: ${err}`);
  }
  output.out(lines.join('\n') + '\n');
}

const TRAIN_HELP = `
Output directory: a new run trains in DIR.tmp-<pid> and is renamed to DIR when it ends;
a DIR that already holds a model or run is refused unless --overwrite (or --resume).
Ctrl-C stops after the current step and writes a checkpoint: the run's folder becomes DIR
(when DIR held no model; otherwise it stays DIR.tmp-<pid>, and the old model is kept) and
the command printed resumes it with --resume --out <that folder>.
A loss or gradient norm that is NaN or infinite stops training with exit code 1, keeps the
last good checkpoint and saves no model (--skip-nonfinite N skips up to N such batches).
Steps: --steps, else --epochs x steps per epoch, else (translate, classify) the default
epochs (translate ${TRANSLATE_EPOCHS}, classify 2) but at least ${MIN_DEFAULT_STEPS} steps; lm runs 2000 steps unless --steps.
Validation (and a checkpoint): once an epoch, but at most ~20 times a run and at least every
500 (translate) / 200 (classify) / 250 (lm) steps, unless --eval-every;
--early-stopping N stops after N validations without a better loss.
At the end, a warning if the validation metric never beat the trivial baseline (majority
class for classify, a unigram model's loss for lm and translate).`;

/** Run the CLI with `argv` (without node and script). */
export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('transformer')
    .description(
      'Build, train, run and explain Transformer models (Vaswani et al., 2017) on Node.js',
    )
    .version(version(), '-V, --version', 'print the version')
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .showHelpAfterError('(see --help)')
    .configureOutput({ writeOut: (s) => output.out(s), writeErr: (s) => output.err(s) })
    .exitOverride()
    .hook('preAction', (cmd, action) => {
      const t = (action.opts().threads ?? cmd.opts().threads) as number | undefined;
      if (t) setNumThreads(t);
    });
  registerPrecisionOption(program);

  program
    .command('info')
    .description('print the version, the backend in use and the backends available')
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .option('--attention', 'list the attention variants, positions and head layouts, one a line')
    .option('--data', 'list the built-in data sets')
    .action(printInfo);

  program
    .command('train')
    .description(
      'train a model and write DIR/config.json, model.safetensors, tokenizer.json, metrics.jsonl, loss.svg',
    )
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .addOption(
      new Option('--task <task>', 'what to learn')
        .choices(['translate', 'lm', 'classify'])
        .default('translate'),
    )
    .option(
      '--data <name|path>',
      'built-in data set (freedict-de-en, freedict-de-en-sentences, tinyshakespeare, spamassassin; `transformer info --data` gives their sizes) or a file: TSV source<TAB>target (translate), text<TAB>label (classify), plain text (lm)',
    )
    .option('--valid <path>', 'validation file (default: a deterministic split of --data)')
    .option(
      '--preset <name>',
      'model preset (translate: compact (default), small, tiny, base, big; lm: char-small, tiny, gpt2-small; classify: small, tiny)',
    )
    .option(
      '--config <file.json>',
      'model config overrides as JSON (e.g. {"dModel": 128}); unknown fields are refused',
    )
    .option(
      '--attention <spec>',
      'self-attention variant, e.g. local:window=128 (transformer info --attention lists them)',
    )
    .option('--position <spec>', 'positions: sinusoidal, learned, rope, alibi, t5, shaw')
    .option('--heads <spec>', 'key/value heads: standard, multi-query, grouped-query:groups=G')
    .option(
      '--depth <spec>',
      'stack: fixed, universal:max-steps=8,act=true,tau=0.01 (Universal Transformer + ACT), conditional:budget=0.5',
    )
    .option('--norm <kind>', 'normalization: layer (default), rms, batch')
    .option(
      '--early-exit',
      'classify: an exit classifier after every layer, trained jointly (DeeBERT)',
    )
    .option(
      '--chunk-len <n>',
      'classify: hierarchical model over chunks of N tokens',
      int('--chunk-len'),
    )
    .option('--mem-len <n>', 'lm: Transformer-XL with a memory of N positions', int('--mem-len', 0))
    .option(
      '--cross-attention <how>',
      'translate: final (the paper: every decoder layer reads the last encoder layer) or layerwise',
    )
    .option(
      '--arch <arch>',
      'translate: transformer (default), rnn (fixed context), rnn-attention; rnn archs: hidden 256, embed 256, 1 layer unless --config {"hiddenSize": ...}; classify: transformer (default), tfidf-logreg, bow-nb (baselines; --config {"C": 1, "alpha": 1, "binary": true, "minDf": 2, ...})',
    )
    .option('--cell <kind>', 'rnn archs: gru (default) or lstm')
    .option('--rnn-attention <score>', 'rnn-attention: bahdanau (default), dot, general')
    .option(
      '--local-window <d>',
      "rnn-attention: Luong's local-p window D (0 = global)",
      int('--local-window', 0),
    )
    .option('--bidirectional', 'rnn archs: bidirectional encoder')
    .option(
      '--scheduled-sampling <decay>',
      'translate, every arch: linear[:k=1,c=..,min=0], exponential[:k=0.999], inverse-sigmoid[:k=100] (Bengio et al. 2015; Transformer: two-pass, Mihaylova & Martins 2019)',
    )
    .option('--out <dir>', 'output model directory (default runs/<task>)')
    .option('--overwrite', 'replace the model or run already in --out')
    .option('--epochs <n>', 'passes over the training data (translate, classify)', int('--epochs'))
    .option('--steps <n>', 'optimizer steps (overrides --epochs)', int('--steps'))
    .option(
      '--batch-tokens <n>',
      'tokens per batch, batches of similar lengths (translate, classify)',
      int('--batch-tokens'),
    )
    .option('--batch-size <n>', 'sequences per batch (lm, default 12)', int('--batch-size'))
    .option('--lr <x>', 'peak learning rate', float('--lr', 0))
    .option('--eval-every <n>', 'validate (and checkpoint) every N steps', int('--eval-every'))
    .option('--seed <n>', 'random seed', int('--seed', 0), 1337)
    .option(
      '--vocab-size <n>',
      'BPE vocabulary size, learned on the training split: 4 specials + 256 bytes + merges, at least 260 (translate, classify; default 8000 for translate, 4000 for classify; of each vocabulary with --separate-vocab)',
      int('--vocab-size', 260),
    )
    .option(
      '--separate-vocab',
      'translate: separate source and target BPE vocabularies (default: one joint vocabulary)',
    )
    .option(
      '--early-stopping <n>',
      'stop after N evaluations without a better validation loss',
      int('--early-stopping'),
    )
    .option(
      '--skip-nonfinite <n>',
      'skip up to N batches whose loss or gradient is not finite (default 0: stop at the first)',
      int('--skip-nonfinite', 0),
    )
    .option('--resume', 'continue from DIR/checkpoint.safetensors (refused when there is none)')
    .option(
      '--average-checkpoints <n>',
      'final model = mean of the parameters at the last N validations (Vaswani et al. 2017, Sec. 6.1); metrics.jsonl compares it with the last',
      int('--average-checkpoints'),
    )
    .addHelpText('after', TRAIN_HELP)
    .action(async (o: TrainCommandOptions) => {
      await runTrain({ ...o, argv });
    });

  program
    .command('translate')
    .description(
      'translate each TEXT (or each line of standard input), one line of output per input',
    )
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .requiredOption('--model <dir>', 'model directory written by `train --task translate`')
    .option('--beam <k>', 'beam size (1 = greedy)', int('--beam'), 4)
    .option(
      '--length-penalty <alpha>',
      'GNMT length penalty alpha',
      float('--length-penalty', 0),
      DEFAULT_LENGTH_PENALTY,
    )
    .option('--max-len <n>', 'maximum output tokens', int('--max-len'), 100)
    .argument('[text...]', 'sentences to translate')
    .action(async (texts: string[], o) => {
      await runInfer('translate', o.model, inputLines(texts), o);
    });

  program
    .command('generate')
    .description('continue a prompt with a trained language model')
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .requiredOption('--model <dir>', 'model directory written by `train --task lm`')
    .option('--prompt <text>', 'text to continue', '\n')
    .option('--max-tokens <n>', 'new tokens', int('--max-tokens'), 200)
    .option(
      '--temperature <t>',
      'sampling temperature (0 = greedy)',
      float('--temperature', 0),
      0.8,
    )
    .option('--top-k <k>', 'keep the k most likely tokens (0 = all)', int('--top-k', 0), 0)
    .option('--top-p <p>', 'nucleus sampling mass in (0, 1]', float('--top-p', 1e-9, 1), 1)
    .option('--seed <n>', 'random seed', int('--seed', 0), 0)
    .option('--stream', 'print the text as its tokens are generated')
    .action(async (o) => {
      await runInfer('generate', o.model, [o.prompt], o);
    });

  program
    .command('classify')
    .description(
      'print the predicted label (and its probability) for each TEXT or line of standard input',
    )
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .requiredOption('--model <dir>', 'model directory written by `train --task classify`')
    .option(
      '--exit-threshold <p>',
      'early exit: stop at the first layer whose confidence >= p (a model trained with --early-exit); prints the layers run',
      float('--exit-threshold', 0),
    )
    .option(
      '--patience <n>',
      'early exit: stop when the prediction stayed the same for N layers (PABEE)',
      int('--patience'),
    )
    .argument('[text...]', 'texts to classify')
    .action(async (texts: string[], o) => {
      await runInfer('classify', o.model, inputLines(texts), o);
    });

  program
    .command('eval')
    .description(
      'evaluate a model on a data set: BLEU (translate), loss and perplexity (lm), accuracy (classify)',
    )
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .requiredOption('--model <dir>', 'model directory')
    .requiredOption('--data <name|path>', 'data set name or file, as for train')
    .addOption(
      new Option(
        '--split <part>',
        "the part of the data scored: the held-out 'test' split as train made it (lm: its last 10%), 'valid', 'train', or 'all' (default: test for a built-in data set, all for a file)",
      ).choices(['test', 'valid', 'train', 'all']),
    )
    .option('--beam <k>', 'beam size for translation', int('--beam'), 4)
    .option(
      '--length-penalty <alpha>',
      'translate: GNMT length penalty alpha, as for `translate`',
      float('--length-penalty', 0),
      DEFAULT_LENGTH_PENALTY,
    )
    .option('--limit <n>', 'evaluate at most N examples', int('--limit'))
    .option('--by-length', 'translate: also BLEU per source length (1-5, 6-10, 11-20, 21+ tokens)')
    .option('--json', 'print one JSON object')
    .option(
      '--exposure-bias',
      "translate: per-position loss/accuracy, teacher forced vs the model's own greedy prefix",
    )
    .action(async (o) => {
      await runEval(o);
    });

  program
    .command('attention')
    .description(
      "draw the model's attention maps for TEXT: one heatmap per layer and head (SVG, or PNG by extension)",
    )
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .requiredOption('--model <dir>', 'model directory')
    .requiredOption('--text <text>', 'input text (translation: the source sentence)')
    .requiredOption('--out <file>', 'output file, .svg or .png')
    .option('--target <text>', 'target prefix for translation (default: the model translation)')
    .action(async (o) => {
      await runInfer('attention', o.model, [o.text], o);
    });

  const vectors = program
    .command('vectors')
    .description(
      'word vectors (Word2Vec CBOW / Skip-gram, GloVe): train, neighbors, analogy, evaluate',
    );
  vectors
    .command('train')
    .description(
      'train word vectors on a text (white-space tokens, lines as sentences); the --out extension picks the format: .bin word2vec binary, .safetensors, else word2vec text',
    )
    .option('--threads <n>', 'threads for the native backend (default 2)', int('--threads'))
    .requiredOption(
      '--data <name|path>',
      'a built-in text data set (tinyshakespeare) or a text file',
    )
    .requiredOption('--out <file>', 'output file (.txt, .bin or .safetensors)')
    .addOption(
      new Option('--model <m>', 'algorithm')
        .choices(['skipgram', 'cbow', 'glove'])
        .default('skipgram'),
    )
    .option('--dim <n>', 'vector width', int('--dim'), 100)
    .option('--window <n>', 'context words each side', int('--window'), 5)
    .option('--negative <n>', 'negative samples (word2vec)', int('--negative'), 5)
    .option('--epochs <n>', 'passes over the corpus', int('--epochs'), 5)
    .option('--min-count <n>', 'drop rarer words', int('--min-count'), 5)
    .option(
      '--sample <t>',
      'subsampling threshold (word2vec; 0 disables)',
      float('--sample', 0, 1),
      1e-3,
    )
    .option('--lowercase', 'lowercase the text first')
    .option('--seed <n>', 'random seed', int('--seed', 0), 1)
    .action((o) => runVectorsTrain(o));
  vectors
    .command('neighbors')
    .description('the nearest words of WORD by cosine similarity')
    .argument('<word>')
    .requiredOption('--vectors <file>', 'word2vec text/binary or safetensors vectors')
    .option('--k <n>', 'how many', int('--k'), 10)
    .action((word: string, o) => runVectorsNeighbors(o.vectors, word, o.k));
  vectors
    .command('analogy')
    .description('"A is to B as C is to ?" by 3CosAdd (Mikolov et al. 2013)')
    .argument('<a>')
    .argument('<b>')
    .argument('<c>')
    .requiredOption('--vectors <file>', 'word2vec text/binary or safetensors vectors')
    .option('--k <n>', 'how many', int('--k'), 5)
    .action((a: string, b: string, c: string, o) => runVectorsAnalogy(o.vectors, a, b, c, o.k));
  vectors
    .command('evaluate')
    .description(
      'intrinsic scores: analogy accuracy (3CosAdd) and word-pair similarity (Spearman rho against human scores)',
    )
    .requiredOption('--vectors <file>', 'word2vec text/binary or safetensors vectors')
    .option(
      '--analogies <file>',
      "questions in word2vec's questions-words.txt format (default: the built-in Shakespeare set)",
    )
    .option(
      '--similarity <file>',
      '"word1 word2 score" pairs as WordSim-353 (default: the built-in Shakespeare set)',
    )
    .action((o) => runVectorsEvaluate(o.vectors, o.analogies, o.similarity));

  registerPretrainCommand(program);
  registerExportCommand(program);
  registerServeCommand(program);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith('commander.')) {
      // commander already printed its message (help, version, or a usage error + "see --help")
      process.exitCode = err.exitCode ?? 1;
      return;
    }
    output.err(`transformer: ${err.message}\n`);
    process.exitCode = 1;
  }
}
