/**
 * What `transformer info --data` says of each built-in data set: its examples as the loader
 * produces them, split exactly as `train` and `eval` split them ({@link taskSplit}: 90/5/5,
 * seed 20170612, translation pairs grouped by sentence), its full-sentence pairs, its source
 * and its licence. Reading the FreeDict dictionaries takes seconds, so the counts are cached
 * in a JSON file keyed by the size and modification time of the files read.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { BUILTIN_DATASETS, type DataTask, type TaskData } from './datasets.js';
import { isSentencePair } from './freedict.js';
import { SPLIT_SEED, taskSplit } from './split.js';
import type { ParallelPair } from './tsv.js';

/** Counts of one data set, as the loader and the split produce them. */
export interface DatasetCounts {
  /** What is counted: translation pairs, labelled examples, or characters of text (lm). */
  unit: 'pairs' | 'examples' | 'characters';
  total: number;
  train: number;
  valid: number;
  /** lm: the last 10% of the text is both the validation and the test part. */
  test: number;
  /** translate: pairs that are full sentences on both sides ({@link isSentencePair}). */
  sentences?: number;
}

/** A built-in data set's description with its counts (or why it could not be loaded). */
export interface DatasetInfo {
  name: string;
  task: DataTask;
  about: string;
  source: string;
  licence: string;
  counts: DatasetCounts | null;
  /** The loader's error (e.g. the package to install) when counts is null. */
  error?: string;
}

/** Bump when the loaders or the split change what they produce: old cache entries then miss. */
const INFO_VERSION = 3; // 3: freedict-de-en keeps one English translation per phrase pair

/**
 * Count a task's data: translate and classify items through {@link taskSplit}; lm text by
 * characters, 90% train and the last 10% valid (= test), nanoGPT's split as `train` uses it.
 * @param task the data's task.
 * @param data what the loader returned.
 */
export function countTaskData<K extends DataTask>(task: K, data: TaskData[K]): DatasetCounts {
  if (task === 'lm') {
    const n = (data as string).length;
    const train = Math.floor(n * 0.9);
    return { unit: 'characters', total: n, train, valid: n - train, test: n - train };
  }
  const items = data as TaskData['translate'] | TaskData['classify'];
  const split = taskSplit<unknown>(items, task as 'translate' | 'classify');
  const counts: DatasetCounts = {
    unit: task === 'translate' ? 'pairs' : 'examples',
    total: items.length,
    train: split.train.length,
    valid: split.valid.length,
    test: split.test.length,
  };
  if (task === 'translate')
    counts.sentences = (items as ParallelPair[]).filter((p) => isSentencePair(p)).length;
  return counts;
}

/** `$XDG_CACHE_HOME/transformer-ts/data-info.json` (default `~/.cache/...`). */
export function defaultInfoCacheFile(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'transformer-ts', 'data-info.json');
}

/** The cache key of a data set: the version, the split seed and each file's size and mtime. */
function cacheKey(files: string[]): string | null {
  const stats: [string, number, number][] = [];
  for (const f of files) {
    if (!existsSync(f)) return null; // nothing to key on: always load
    const s = statSync(f);
    stats.push([f, s.size, s.mtimeMs]);
  }
  return JSON.stringify([INFO_VERSION, SPLIT_SEED, stats]);
}

type CacheFile = Record<string, { key: string; counts: DatasetCounts }>;

function readCache(path: string): CacheFile {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as CacheFile) : {};
  } catch {
    return {}; // absent or unreadable: recount
  }
}

function writeCache(path: string, cache: CacheFile): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(cache, null, 1));
    renameSync(tmp, path);
  } catch {
    // a read-only home: the counts are still right, only slower next time
  }
}

/** Options of {@link datasetInfo}. */
export interface DatasetInfoOptions {
  /** The data sets to look up names in. Default BUILTIN_DATASETS. */
  registry?: Readonly<Record<string, (typeof BUILTIN_DATASETS)[string]>>;
  /** The cache file, or null for no cache. Default {@link defaultInfoCacheFile}. */
  cacheFile?: string | null;
}

/**
 * Describe a built-in data set with its counts: loaded with the set's own loader and split
 * with {@link taskSplit}, i.e. the sizes `transformer train` reports; cached on disk.
 * @param name a key of the registry.
 * @returns the description; counts null and `error` set when the loader failed (e.g. a
 *   Debian package not installed).
 * @throws Error naming the data set when the name is unknown.
 */
export function datasetInfo(name: string, o: DatasetInfoOptions = {}): DatasetInfo {
  const registry = o.registry ?? BUILTIN_DATASETS;
  const b = registry[name];
  if (!b)
    throw new Error(`unknown data set '${name}' (built-in: ${Object.keys(registry).join(', ')})`);
  const info = { name, task: b.task, about: b.about, source: b.source, licence: b.licence };
  const cacheFile = o.cacheFile === undefined ? defaultInfoCacheFile() : o.cacheFile;
  const key = cacheFile ? cacheKey(b.files()) : null;
  const cache = cacheFile && key ? readCache(cacheFile) : {};
  if (key && cache[name]?.key === key) return { ...info, counts: cache[name].counts };
  let counts: DatasetCounts;
  try {
    counts = countTaskData(b.task, b.load());
  } catch (e) {
    return { ...info, counts: null, error: (e as Error).message };
  }
  if (cacheFile && key) writeCache(cacheFile, { ...cache, [name]: { key, counts } });
  return { ...info, counts };
}

const num = (n: number): string => n.toLocaleString('en-US');

/**
 * The lines of `transformer info --data`: per data set, its name, task and counts, then what
 * it is, its source and its licence, indented.
 */
export function describeDatasets(o: DatasetInfoOptions = {}): string[] {
  const lines: string[] = [];
  for (const name of Object.keys(o.registry ?? BUILTIN_DATASETS)) {
    const d = datasetInfo(name, o);
    const c = d.counts;
    let counts: string;
    if (!c) counts = `not available: ${d.error}`;
    else if (c.unit === 'characters')
      counts = `${num(c.total)} characters: train ${num(c.train)} / valid = test ${num(c.valid)}`;
    else {
      counts = `${num(c.total)} ${c.unit}: train ${num(c.train)} / valid ${num(c.valid)} / test ${num(c.test)}`;
      if (c.sentences !== undefined) counts += `; ${num(c.sentences)} full sentences`;
    }
    lines.push(`${name}  ${d.task}  ${counts}`);
    lines.push(`    ${d.about}`, `    source: ${d.source}`, `    licence: ${d.licence}`);
  }
  return lines;
}
