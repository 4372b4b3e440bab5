/**
 * modeling.py for one model directory: a self-contained PyTorch module (only `torch` is
 * imported) whose state_dict names and shapes equal our model.safetensors, for the three
 * model kinds: DecoderLM (decoder-only LM), Seq2SeqTransformer (encoder-decoder) and
 * EncoderClassifier. The config is honoured: pre- or post-LN, relu or gelu, LayerNorm
 * epsilon, dropout, tied weights, learned or sinusoidal positions, pooling, padding id.
 *
 * The constructors (`__init__`) hold no branches: what depends on the config's structure
 * (layer counts, a final norm or none, the position module, tying) is decided here, when the
 * file is written, so the parameter names can be read off the file (test/export/torch.test.ts
 * does). What depends on values (sizes, dropout, activation, pre/post-LN) is read from CONFIG.
 *
 * Shape letters: B batch, S source length, T target length, C d_model, V vocabulary, K classes.
 */
import type { ModelDirConfig } from '../../tasks/modeldir.js';
import { PYTHON_LIB } from './python-lib.js';

/** The model kinds the torch export writes. */
export type TorchKind = 'lm' | 'seq2seq' | 'classifier';

/** The model classes the torch export writes, by our class name. */
export const TORCH_MODEL_KINDS: Record<string, TorchKind> = {
  DecoderLM: 'lm',
  Seq2SeqTransformer: 'seq2seq',
  EncoderClassifier: 'classifier',
};

/** What modeling.py is written from: the kind and the resolved config (every default filled in). */
export interface TorchModelSpec {
  kind: TorchKind;
  /** config.json of the model directory, with `config` resolved by the model's constructor. */
  dirConfig: ModelDirConfig;
}

/** Config values the Python classes support, each with the allowed values (others refused; absent = the default, supported). */
const SUPPORTED: Record<string, readonly unknown[]> = {
  attention: ['full'],
  heads: ['standard'],
  depth: ['fixed'],
  norm: ['layer'],
  position: ['learned', 'sinusoidal'],
  crossAttention: ['final'],
  earlyExit: [false],
};

/**
 * Check that the export can write this model exactly.
 * @returns the kind of model.
 * @throws Error naming the model class, or the config option and its value, that modeling.py
 *   does not implement (the X-former variants, RMSNorm/BatchNorm, relative positions, ...).
 */
export function torchKindOf(dirConfig: ModelDirConfig): TorchKind {
  const kind = TORCH_MODEL_KINDS[dirConfig.model];
  if (!kind)
    throw new Error(
      `export --format torch: model '${dirConfig.model}' is not supported (supported: ${Object.keys(TORCH_MODEL_KINDS).join(', ')})`,
    );
  for (const [key, allowed] of Object.entries(SUPPORTED)) {
    const v = dirConfig.config[key];
    if (v !== undefined && !allowed.includes(v))
      throw new Error(
        `export --format torch: ${key} = ${JSON.stringify(v)} is not supported by modeling.py (supported: ${allowed.map((a) => JSON.stringify(a)).join(', ')})`,
      );
  }
  return kind;
}

const LN = 'nn.LayerNorm(cfg.dModel, eps=cfg.layerNormEps)';

function positions(position: unknown, maxLen: string): string {
  return position === 'learned'
    ? `LearnedPositions(${maxLen}, cfg.dModel)`
    : `SinusoidalPositions(${maxLen}, cfg.dModel)`;
}

/** A stack class: N layers in a ModuleList and a final norm or None (torch.nn.TransformerEncoder/Decoder). */
function stackClass(name: string, layer: string, n: number, norm: boolean): string {
  const decoder = layer === 'DecoderLayer';
  const args = decoder
    ? 'x, memory, tgt_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None'
    : 'x, attn_mask=None, key_padding_mask=None';
  const call = decoder
    ? 'layer(x, memory, tgt_mask, tgt_key_padding_mask, memory_key_padding_mask)'
    : 'layer(x, attn_mask, key_padding_mask)';
  return `class ${name}(nn.Module):
    """${n} ${layer}s${norm ? ' and a final LayerNorm' : ', no final norm'} (torch.nn.Transformer${decoder ? 'Decoder' : 'Encoder'}'s names)."""

    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.ModuleList([${layer}(cfg) for _ in range(${n})])
        self.norm = ${norm ? LN : 'None'}

    def forward(self, ${args}):
        for layer in self.layers:
            x = ${call}
        return x if self.norm is None else self.norm(x)
`;
}

function lmClasses(c: Record<string, unknown>): string {
  return `${stackClass('Encoder', 'EncoderLayer', c.numLayers as number, false)}

class DecoderLM(nn.Module):
    """Decoder-only LM (GPT-style): wte + wpe, causal encoder layers, ln_f, head tied to wte."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocabSize, cfg.dModel)
        self.wpe = ${positions(c.position, 'cfg.blockSize')}
        self.blocks = Encoder(cfg)
        self.ln_f = ${LN}

    def forward(self, idx):
        """idx (B, T) int64 -> logits (B, T, V)."""
        x = self.wpe(self.wte(idx))  # (B, T, C)
        x = self.blocks(x, attn_mask=causal_mask(idx.shape[1]))  # (B, T, C)
        return F.linear(self.ln_f(x), self.wte.weight)  # (B, T, V)
`;
}

function seq2seqClasses(c: Record<string, unknown>): string {
  const tie = c.tieWeights
    ? '\n        self.generator.weight = self.tgt_tok_emb.weight  # tied (Sec. 3.4)'
    : '';
  return `${stackClass('Encoder', 'EncoderLayer', c.numEncoderLayers as number, true)}

${stackClass('Decoder', 'DecoderLayer', c.numDecoderLayers as number, true)}

class Transformer(nn.Module):
    """torch.nn.Transformer's names: encoder.layers.{i}, encoder.norm, decoder.layers.{i}, decoder.norm."""

    def __init__(self, cfg):
        super().__init__()
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder (Fig. 1): embeddings scaled by sqrt(C) (Sec. 3.4), sinusoids (Sec. 3.5),
    dropout, the Transformer, the generator (to target-vocabulary logits)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.src_tok_emb = nn.Embedding(cfg.srcVocabSize, cfg.dModel)
        self.tgt_tok_emb = nn.Embedding(cfg.tgtVocabSize, cfg.dModel)
        self.positional_encoding = ${positions(c.position, 'cfg.maxLen')}
        self.dropout = nn.Dropout(cfg.dropout)
        self.transformer = Transformer(cfg)
        self.generator = nn.Linear(cfg.dModel, cfg.tgtVocabSize)${tie}

    def embed(self, emb, ids):
        return self.dropout(self.positional_encoding(emb(ids) * math.sqrt(self.cfg.dModel)))

    def forward(self, src, tgt):
        """src (B, S), tgt (B, T) int64 (the decoder input, from <bos>) -> logits (B, T, V)."""
        src_pad = padding_mask(src, self.cfg.padId)  # (B, S)
        memory = self.transformer.encoder(self.embed(self.src_tok_emb, src),
                                          key_padding_mask=src_pad)  # (B, S, C)
        h = self.transformer.decoder(self.embed(self.tgt_tok_emb, tgt), memory,
                                     tgt_mask=causal_mask(tgt.shape[1]),
                                     tgt_key_padding_mask=padding_mask(tgt, self.cfg.padId),
                                     memory_key_padding_mask=src_pad)  # (B, T, C)
        return self.generator(h)  # (B, T, V)
`;
}

function classifierClasses(c: Record<string, unknown>): string {
  return `${stackClass('Encoder', 'EncoderLayer', c.numLayers as number, c.normFirst === true)}

class EncoderClassifier(nn.Module):
    """Encoder-only classifier (BERT-style): embeddings scaled by sqrt(C), positions, dropout,
    the encoder (a final norm when pre-LN), pooling ('cls' or masked 'mean'), a linear head."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocabSize, cfg.dModel)
        self.pos_emb = ${positions(c.position, 'cfg.maxLen')}
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder = Encoder(cfg)
        self.classifier = nn.Linear(cfg.dModel, cfg.numClasses)

    def forward(self, ids):
        """ids (B, L) int64, padded with padId -> logits (B, K)."""
        pad = padding_mask(ids, self.cfg.padId)  # (B, L)
        x = self.dropout(self.pos_emb(self.tok_emb(ids) * math.sqrt(self.cfg.dModel)))
        h = self.encoder(x, key_padding_mask=pad)  # (B, L, C)
        if self.cfg.pooling == "cls":
            pooled = h[:, 0]  # (B, C)
        else:
            keep = (~pad).to(h.dtype).unsqueeze(-1)  # (B, L, 1)
            pooled = (h * keep).sum(1) * (1.0 / keep.sum(1).clamp(min=1.0))  # (B, C)
        return self.classifier(pooled)  # (B, K)
`;
}

/**
 * A JSON value as a Python literal (True/False/None; strings and numbers as JSON writes them,
 * which Python reads the same), objects one key a line.
 * @throws Error for a non-finite number (JSON has none).
 */
export function pythonLiteral(v: unknown, indent = ''): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`pythonLiteral: ${v} is not a finite number`);
    return String(v);
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => pythonLiteral(x, indent)).join(', ')}]`;
  const inner = indent + '    ';
  const items = Object.entries(v as Record<string, unknown>).map(
    ([k, x]) => `${inner}${JSON.stringify(k)}: ${pythonLiteral(x, inner)},`,
  );
  return items.length ? `{\n${items.join('\n')}\n${indent}}` : '{}';
}

const CLASSES: Record<TorchKind, (c: Record<string, unknown>) => string> = {
  lm: lmClasses,
  seq2seq: seq2seqClasses,
  classifier: classifierClasses,
};

/**
 * The text of modeling.py for a model directory's config (checked by torchKindOf first).
 * @param dirConfig config.json with `config` resolved (every default present).
 * @throws Error as torchKindOf for a model the export does not support.
 */
export function modelingPython(dirConfig: ModelDirConfig): string {
  const kind = torchKindOf(dirConfig);
  const c = dirConfig.config;
  return `"""modeling.py: ${dirConfig.model} in PyTorch, written by \`transformer export --format torch\`
(transformer-ts). state_dict() names and shapes equal the model directory's model.safetensors:

    from modeling import load_model
    model = load_model("DIR")  # config.json + model.safetensors; load_state_dict(strict=True)

Only torch is needed (safetensors are read and written by the few lines below).
Shape letters: B batch, S source length, T target length, C d_model, V vocabulary, K classes.
"""
${PYTHON_LIB}

${CLASSES[kind](c)}

# The model directory's config.json, every default filled in.
CONFIG = ${pythonLiteral(dirConfig)}
MODEL_CLASS = ${dirConfig.model}


def build_model(config=None, dropout=None):
    """The model of CONFIG (or of another config.json dict with the same structure), randomly
    initialized; \`dropout\` overrides the config's P_drop (e.g. 0 to compare losses exactly)."""
    cfg = SimpleNamespace(**(config or CONFIG)["config"])
    if dropout is not None:
        cfg.dropout = dropout
    return MODEL_CLASS(cfg)


def load_model(directory, dropout=None):
    """build_model, then the weights of DIRECTORY/model.safetensors (strict: every name, every shape)."""
    model = build_model(dropout=dropout)
    state, _ = load_safetensors(os.path.join(directory, "model.safetensors"))
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model


def state_dict_for_save(model):
    """The state dict with tied tensors copied, so each name has its own bytes in the file."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
`;
}
