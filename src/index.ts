/**
 * transformer-ts: the Transformer (Vaswani et al. 2017) and its variants on Node.js.
 * One public entry, exporting by area: tensor, autograd, backend, ops, nn, models, io,
 * metrics.
 */
// tensor
export {
  Tensor,
  tensor,
  zeros,
  ones,
  full,
  arange,
  rand,
  randn,
  randint,
  numel,
  fmtShape,
  StepArena,
} from './tensor.js';
export type { DType, Shape, Storage } from './tensor.js';
export { Generator, manualSeed, defaultGenerator } from './random.js';
// autograd
export { noGrad, isGradEnabled } from './autograd.js';
// backend
export {
  backend,
  setBackend,
  availableBackends,
  withBackend,
  setNumThreads,
  nativeBackendError,
} from './backend/index.js';
export type { Backend, BackendName } from './backend/index.js';
// ops (functional API)
export * as F from './ops/index.js';
// nn
export { Module, ModuleList } from './nn/module.js';
export { Linear, Embedding, Dropout, LayerNorm, RMSNorm } from './nn/layers.js';
export { BatchNorm } from './nn/batchnorm.js';
export { makeNorm, NORM_KINDS } from './nn/norms.js';
export type { Norm, NormKind } from './nn/norms.js';
export type { Activation } from './nn/layers.js';
export { MultiheadAttention, CrossAttentionState } from './nn/attention.js';
export type {
  AttentionForwardOptions,
  AttentionKind,
  MultiheadAttentionOptions,
} from './nn/attention.js';
export {
  LayerStack,
  DepthStrategy,
  FixedDepth,
  auxiliaryLosses,
  withAuxiliaryLosses,
} from './nn/stack.js';
export type { ApplyLayer, GateDecision, StackContext, SublayerGate } from './nn/stack.js';
export { UniversalDepth } from './nn/universal.js';
export { ConditionalDepth } from './nn/conditional.js';
export type { ConditionalOptions } from './nn/conditional.js';
export type { UniversalOptions } from './nn/universal.js';
export {
  createDepth,
  describeDepths,
  formatDepthSpec,
  parseDepthSpec,
  registerDepth,
} from './nn/depth-registry.js';
export type { DepthVariant, StackShape } from './nn/depth-registry.js';
// attention cores (the seam between the projections and W_O) and their registry
export * from './attention/index.js';
export {
  SinusoidalPositionalEncoding,
  LearnedPositionalEmbedding,
  sinusoidTable,
} from './nn/positional.js';
export {
  Transformer,
  TransformerEncoder,
  TransformerDecoder,
  TransformerEncoderLayer,
  TransformerDecoderLayer,
} from './nn/transformer.js';
export type {
  CrossAttention,
  TransformerConfig,
  LayerOptions,
  TransformerMasks,
} from './nn/transformer.js';
// models
export { validateModelConfig, ConfigError, MAX_PARAMETERS } from './models/config.js';
export type { BlockConfig, ModelKind } from './models/config.js';
export { DecoderLM } from './models/decoder-lm.js';
export type { DecoderLMConfig } from './models/decoder-lm.js';
export { Seq2SeqTransformer } from './models/seq2seq.js';
export { paddingMask } from './models/padding.js';
export type { Seq2SeqConfig } from './models/seq2seq.js';
export { EncoderClassifier } from './models/classifier.js';
export type { EncoderClassifierConfig } from './models/classifier.js';
export {
  seq2seqPresets,
  lmPresets,
  seq2seqParameterCount,
  lmParameterCount,
} from './models/presets.js';
// io
export * from './io/safetensors.js';
export { saveModel, loadModel } from './io/checkpoint.js';
export { exportModel, EXPORT_FORMATS, decoderLMToOnnx, classifierToOnnx } from './export/index.js';
export {
  exportTorch,
  type TorchExportOptions,
  type TorchExportResult,
} from './export/torch/index.js';
// tokenizers
export * from './tokenizers/index.js';
// decoding and training
export { generate } from './decode/generate.js';
export type { GenerateOptions } from './decode/generate.js';
export { sampleToken, argmaxRow } from './decode/sampling.js';
export type { SamplingOptions } from './decode/sampling.js';
export { compareGreedyPrecision, topMargin } from './decode/precision-compare.js';
export type {
  GreedyPrecisionComparison,
  GreedyPrecisionOptions,
  PromptPrecisionComparison,
} from './decode/precision-compare.js';
export { SGD, Adam, AdamW, Optimizer, weightDecayGroups } from './train/optim.js';
export type { ParamGroup } from './train/optim.js';
export { noamSchedule, cosineSchedule, constantSchedule } from './train/schedule.js';
export type { Schedule } from './train/schedule.js';
export { trainRecipe, type TrainRecipe } from './train/recipe.js';
// data
export * from './data/index.js';
// viz
export * from './viz/index.js';
// training
export { Trainer, clipGradNorm } from './train/trainer.js';
export type { TrainTask, TrainerOptions } from './train/trainer.js';
export { averageStates, SnapshotAverager, type StateArrays } from './train/average.js';
export { greedyDecode, beamSearch } from './decode/seq2seq.js';
export type { Hypothesis, BeamSearchOptions } from './decode/seq2seq.js';
// metrics
export * from './metrics/index.js';
// model directories written by `transformer train`: one-call loaders (synchronous)
export { load } from './tasks/load.js';
export type { LoadedModel } from './tasks/load.js';
export { loadTranslator } from './tasks/translate.js';
export type { Translator, TranslateOptions } from './tasks/translate.js';
export { loadLanguageModel } from './tasks/lm.js';
export type { LanguageModel, GenerateTextOptions } from './tasks/lm.js';
export { loadClassifier } from './tasks/classify.js';
export type { Classifier } from './tasks/classify.js';
export { readModelDirConfig, saveModelDir } from './tasks/modeldir.js';
export type { ModelDirConfig, TaskName } from './tasks/modeldir.js';
// beyond the fixed stack (issue #14): Transformer-XL, hierarchical and early-exit classifiers
export { TransformerXL, segmentLoss, generateXL } from './models/transformer-xl.js';
export type { TransformerXLConfig } from './models/transformer-xl.js';
export { HierarchicalClassifier } from './models/hierarchical.js';
export type { HierarchicalClassifierConfig } from './models/hierarchical.js';
export { classifyEarlyExit } from './models/early-exit.js';
export type { EarlyExitOptions, EarlyExitResult } from './models/early-exit.js';
export { XLAttention } from './attention/xl.js';
// before the Transformer (issue #17): recurrent layers and RNN encoder-decoders
export { RNN, cellStep, cellStepReference, gateCount } from './rnn/recurrent.js';
export type { CellKind, CellState, CellWeights, RNNOptions, RNNOutput } from './rnn/recurrent.js';
export { Alignment } from './rnn/alignment.js';
export type { AlignmentScore, AlignmentOptions, AlignmentOutput } from './rnn/alignment.js';
export { RNNSeq2Seq, RNNDecoderState } from './rnn/seq2seq.js';
export type { RNNSeq2SeqConfig } from './rnn/seq2seq.js';
// word representations (issue #18)
export * from './vectors/bow.js';
export {
  buildWordCorpus,
  subsamplingKeep,
  unigramTable,
  trainWord2Vec,
} from './vectors/word2vec.js';
export type {
  WordCorpus,
  CorpusOptions as WordCorpusOptions,
  Word2VecOptions,
  Word2VecResult,
} from './vectors/word2vec.js';
export * from './vectors/glove.js';
export * from './vectors/classifiers.js';
export { WordVectors } from './vectors/word-vectors.js';
export type { Neighbour } from './vectors/word-vectors.js';
export { maskTokens, IGNORE_INDEX } from './train/mlm.js';
export type { MaskingOptions, MaskedBatch } from './train/mlm.js';
// baselines, initialization, pre-training and fine-tuning (issue #18)
export { BaselineClassifier, fitBaseline, BASELINE_ARCHS } from './tasks/baseline.js';
export type { BaselineArch, BaselineConfig } from './tasks/baseline.js';
export { loadBaselineClassifier } from './tasks/classify.js';
export { initEmbeddingRows } from './vectors/init-embeddings.js';
export type { EmbeddingInit } from './vectors/init-embeddings.js';
export { fineTuneGroups, freezeParameters, stackDepth } from './train/finetune.js';
export { MaskedLM } from './models/masked-lm.js';
export type { MaskedLMConfig } from './models/masked-lm.js';
export {
  buildMLMTask,
  maskedBatch,
  readPretrained,
  loadPretrainedEncoder,
} from './tasks/pretrain.js';
export type { MLMTaskOptions, Pretrained } from './tasks/pretrain.js';
export type { Seq2SeqModel } from './decode/seq2seq.js';
export { RNN_TRANSLATE_PRESET } from './tasks/translate.js';
export type { TranslateArch } from './tasks/translate.js';
export { parseSamplingSchedule } from './rnn/scheduled-sampling.js';
// transformers.js-style pipelines and streaming (issue #16)
export { pipeline, generateStream } from './pipeline.js';
export type {
  PipelineTask,
  Pipeline,
  TranslationPipeline,
  TextGenerationPipeline,
  TextClassificationPipeline,
  GenerationOptions,
  ClassificationOptions,
} from './pipeline.js';
export { generateSteps, samplingSteps } from './decode/generate.js';
export { greedySteps } from './decode/seq2seq.js';
export type { StepToken } from './decode/seq2seq.js';
export { TextStreamer, streamText } from './decode/text-stream.js';
export { classProbabilities } from './tasks/classify.js';
