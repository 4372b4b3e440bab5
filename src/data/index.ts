/**
 * The data layer for training: file loaders with file:line errors, built-in data sets
 * (FreeDict German-English, tiny Shakespeare, SpamAssassin), deterministic splits, and
 * length-bucketed, padded batches.
 */
export {
  DataError,
  readText,
  readParallelTsv,
  readClassificationTsv,
  MAX_LINE_CHARS,
  type ParallelPair,
  type LabeledText,
} from './tsv.js';
export {
  loadFreedictDeEn,
  loadFreedictCombined,
  parseFreedictExamples,
  isSentencePair,
  cleanPhrasePair,
  commaItems,
  normalizeSpace,
  FREEDICT_DE_EN_PATH,
  FREEDICT_EN_DE_PATH,
  type FreedictOptions,
} from './freedict.js';
export {
  loadSpamAssassin,
  cleanEmail,
  SPAM_PACKAGE,
  type SpamOptions,
  type CleanEmailOptions,
} from './spam.js';
export {
  resolveDataset,
  loadBuiltinDataset,
  BUILTIN_DATASETS,
  packageRoot,
  tinyShakespearePath,
  type DataTask,
  type TaskData,
} from './datasets.js';
export {
  textChunks,
  textFile,
  CHUNK_CHARS,
  MAX_STRETCH,
  type TextSource,
} from './textstream.js';
export { clipAll, clipWithWarning, truncationWarning, type Clipped, type KeepSide } from './truncate.js';
export {
  groupsOf,
  pairSentenceKeys,
  splitDeterministic,
  taskSplit,
  SPLIT_SEED,
  type SplitOptions,
  type Split,
} from './split.js';
export {
  bucketBatches,
  epochBatches,
  padBatch,
  makeSeq2SeqBatch,
  makeLMBatch,
  makeClassificationBatch,
  type BucketOptions,
  type Seq2SeqIds,
  type Seq2SeqBatch,
  type LMBatchOptions,
  type ClassificationBatchOptions,
} from './batching.js';
export {
  countTaskData,
  datasetInfo,
  describeDatasets,
  defaultInfoCacheFile,
  type DatasetCounts,
  type DatasetInfo,
  type DatasetInfoOptions,
} from './info.js';
