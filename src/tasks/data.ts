/**
 * The data of a task, resolved from a built-in name or a file, split deterministically:
 * translate and classify get train/valid/test (90/5/5 by a seeded shuffle, unless --valid
 * is given); language modelling gets its text (the last 10% is validation, nanoGPT's split).
 */
import { existsSync } from 'node:fs';
import {
  resolveDataset,
  taskSplit,
  readParallelTsv,
  readClassificationTsv,
  textFile,
  BUILTIN_DATASETS,
  type LabeledText,
  type ParallelPair,
  type TextSource,
} from '../data/index.js';

export interface SplitData<T> {
  train: T[];
  valid: T[];
  test: T[];
}

export { SPLIT_SEED } from '../data/index.js';

export function loadTaskData(
  task: 'translate',
  nameOrPath: string,
  validPath?: string,
): SplitData<ParallelPair>;
export function loadTaskData(
  task: 'classify',
  nameOrPath: string,
  validPath?: string,
): SplitData<LabeledText>;
export function loadTaskData(
  task: 'lm',
  nameOrPath: string,
  validPath?: string,
): { text: TextSource; validText?: TextSource };
/**
 * Load and split a task's data.
 * @throws DataError naming the file and line for malformed input, or the unknown data set.
 */
export function loadTaskData(
  task: 'translate' | 'classify' | 'lm',
  nameOrPath: string,
  validPath?: string,
): SplitData<ParallelPair> | SplitData<LabeledText> | { text: TextSource; validText?: TextSource } {
  // Language-modelling files are read in chunks when tokenized (any size; see textstream.ts).
  if (task === 'lm')
    return {
      text:
        nameOrPath in BUILTIN_DATASETS || !existsSync(nameOrPath)
          ? resolveDataset(nameOrPath, 'lm') // a built-in, or the error listing them
          : textFile(nameOrPath),
      validText: validPath ? textFile(validPath) : undefined,
    };
  const items: (ParallelPair | LabeledText)[] =
    task === 'translate'
      ? resolveDataset(nameOrPath, 'translate')
      : resolveDataset(nameOrPath, 'classify');
  if (validPath) {
    const valid =
      task === 'translate' ? readParallelTsv(validPath) : readClassificationTsv(validPath);
    const { train, test } = taskSplit<ParallelPair | LabeledText>(items, task, true);
    return { train, valid, test } as SplitData<ParallelPair>;
  }
  return taskSplit<ParallelPair | LabeledText>(items, task) as SplitData<ParallelPair>;
}
