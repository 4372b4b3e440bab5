/**
 * The JSON endpoints of `transformer serve`: POST /api/translate, /api/generate, /api/classify,
 * /api/attention and GET /api/models. Each request body is a JSON object whose fields are
 * checked before any computation (a bad or unknown field is a 400 naming it); translation and
 * generation stream their text as server-sent events when the body says `"stream": true` or
 * the request accepts text/event-stream. The computation is the library's (Translator,
 * LanguageModel, classProbabilities, attentionSections), so the answers equal the CLI's.
 */
import type { Request, Response } from 'express';
import { classProbabilities } from '../tasks/classify.js';
import { attentionSections } from '../tasks/attention-maps.js';
import type { NeuralModel } from '../tasks/load.js';
import { HttpError, type ModelRegistry, type ServedModel } from './models.js';
import { attentionPayload, prediction } from './payload.js';

/** Most texts in one request, and most characters in one text. */
export const MAX_TEXTS = 64;
export const MAX_TEXT_CHARS = 10_000;

/** Which endpoint serves each model task. */
const ENDPOINT: Record<NeuralModel['task'], string> = {
  translate: '/api/translate',
  lm: '/api/generate',
  classify: '/api/classify',
};

type Body = Record<string, unknown>;

/** The request's JSON object. @throws HttpError 415/400 when there is none. */
function bodyOf(req: Request): Body {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type))
    throw new HttpError(
      415,
      `the body must be JSON (Content-Type: application/json), got '${type}'`,
    );
  const b = req.body;
  if (b === null || typeof b !== 'object' || Array.isArray(b))
    throw new HttpError(400, 'the body must be a JSON object, as {"text": "..."}');
  return b as Body;
}

/** @throws HttpError 400 naming fields of `b` not in `known`. */
function onlyFields(b: Body, known: string[]): void {
  const extra = Object.keys(b).filter((k) => !known.includes(k));
  if (extra.length > 0)
    throw new HttpError(400, `unknown field(s) ${extra.join(', ')} (known: ${known.join(', ')})`);
}

/** A non-empty string of at most MAX_TEXT_CHARS. @throws HttpError 400 naming the field. */
function textField(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.trim() === '')
    throw new HttpError(400, `"${field}" must be a non-empty string, got ${JSON.stringify(v)}`);
  if (v.length > MAX_TEXT_CHARS)
    throw new HttpError(400, `"${field}" has ${v.length} characters, more than ${MAX_TEXT_CHARS}`);
  return v;
}

/** One text or up to MAX_TEXTS of them, as a list. @throws HttpError 400 naming the field. */
function textsField(v: unknown): string[] {
  if (!Array.isArray(v)) return [textField(v, 'text')];
  if (v.length === 0 || v.length > MAX_TEXTS)
    throw new HttpError(400, `"text" must hold 1 to ${MAX_TEXTS} texts, got ${v.length}`);
  return v.map((t, i) => textField(t, `text[${i}]`));
}

/** A number in [min, max] (an integer when `int`), or `def` when absent. */
function numField(
  b: Body,
  field: string,
  min: number,
  max: number,
  def: number,
  int = true,
): number {
  const v = b[field];
  if (v === undefined) return def;
  if (
    typeof v !== 'number' ||
    !Number.isFinite(v) ||
    v < min ||
    v > max ||
    (int && !Number.isInteger(v))
  )
    throw new HttpError(
      400,
      `"${field}" must be ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`,
    );
  return v;
}

/** The model of the request, which must be of `task`. @throws HttpError 404/400. */
function modelFor<T extends NeuralModel['task']>(
  models: ModelRegistry,
  b: Body,
  task: T,
): ServedModel & { loaded: Extract<NeuralModel, { task: T }> } {
  const m = models.get(b.model);
  if (m.loaded.task !== task)
    throw new HttpError(
      400,
      `model '${m.name}' is a '${m.loaded.task}' model: use POST ${ENDPOINT[m.loaded.task]}`,
    );
  return m as ServedModel & { loaded: Extract<NeuralModel, { task: T }> };
}

/** Whether the client asked for server-sent events. */
function wantsStream(req: Request, b: Body): boolean {
  if (b.stream !== undefined && typeof b.stream !== 'boolean')
    throw new HttpError(400, `"stream" must be true or false, got ${JSON.stringify(b.stream)}`);
  return b.stream ?? /text\/event-stream/.test(req.headers.accept ?? '');
}

/**
 * Send `pieces` as server-sent events: `data: {"token": piece}` per piece, then
 * `event: done` with `{"text": prefix + all pieces}`; an error after the first byte is an
 * `event: error` with `{"error": message}`. A client that goes away stops the generation.
 */
async function sendEvents(
  req: Request,
  res: Response,
  pieces: AsyncGenerator<string, void, undefined>,
  prefix: string,
  extra: Record<string, unknown>,
): Promise<void> {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
  });
  let gone = false;
  res.on('close', () => (gone = true));
  let text = prefix;
  try {
    for await (const piece of pieces) {
      if (gone) break;
      text += piece;
      res.write(`data: ${JSON.stringify({ token: piece })}\n\n`);
    }
    if (!gone) res.write(`event: done\ndata: ${JSON.stringify({ ...extra, text })}\n\n`);
  } catch (e) {
    res.write(`event: error\ndata: ${JSON.stringify({ error: (e as Error).message })}\n\n`);
  }
  res.end();
}

/** The request handlers over `models`, by endpoint. */
export function apiHandlers(
  models: ModelRegistry,
): Record<string, (req: Request, res: Response) => Promise<unknown>> {
  return {
    async models(_req, res) {
      res.json({
        models: models.models.map((m) => ({
          name: m.name,
          task: m.loaded.task,
          endpoint: ENDPOINT[m.loaded.task],
          config: m.loaded.model.config,
        })),
      });
    },

    async translate(req, res) {
      const b = bodyOf(req);
      onlyFields(b, ['text', 'model', 'beam', 'maxLen', 'lengthPenalty', 'stream']);
      const m = modelFor(models, b, 'translate');
      const texts = textsField(b.text);
      const stream = wantsStream(req, b);
      const o = {
        beam: numField(b, 'beam', 1, 16, stream ? 1 : 4),
        maxLen: numField(b, 'maxLen', 1, 512, 100),
        lengthPenalty: numField(b, 'lengthPenalty', 0, 10, 0.6, false),
      };
      if (!stream) return res.json({ model: m.name, translations: m.loaded.translate(texts, o) });
      if (texts.length !== 1) throw new HttpError(400, '"stream" takes one text, not a list');
      await sendEvents(req, res, m.loaded.translateStream(texts[0], o), '', { model: m.name });
    },

    async generate(req, res) {
      const b = bodyOf(req);
      onlyFields(b, [
        'text',
        'model',
        'maxTokens',
        'temperature',
        'topK',
        'topP',
        'seed',
        'stream',
      ]);
      const m = modelFor(models, b, 'lm');
      const prompt = textField(b.text, 'text');
      const o = {
        maxTokens: numField(b, 'maxTokens', 1, 1000, 200),
        temperature: numField(b, 'temperature', 0, 10, 0.8, false),
        topK: numField(b, 'topK', 0, 1_000_000, 0),
        topP: numField(b, 'topP', 1e-9, 1, 1, false),
        seed: numField(b, 'seed', 0, 2 ** 31 - 1, 0),
      };
      if (!wantsStream(req, b))
        return res.json({ model: m.name, text: m.loaded.generate(prompt, o) });
      await sendEvents(req, res, m.loaded.generateStream(prompt, o), prompt, { model: m.name });
    },

    async classify(req, res) {
      const b = bodyOf(req);
      onlyFields(b, ['text', 'model']);
      const m = modelFor(models, b, 'classify');
      const { model, tokenizer, labels } = m.loaded;
      const probs = classProbabilities(model, tokenizer, textsField(b.text));
      res.json({ model: m.name, predictions: probs.map((p) => prediction(labels, p)) });
    },

    async attention(req, res) {
      const b = bodyOf(req);
      onlyFields(b, ['text', 'model', 'target']);
      const m = models.get(b.model);
      const text = textField(b.text, 'text');
      if (b.target !== undefined && m.loaded.task !== 'translate')
        throw new HttpError(
          400,
          `"target" applies to translation models; '${m.name}' is '${m.loaded.task}'`,
        );
      if (b.target !== undefined && typeof b.target !== 'string')
        throw new HttpError(400, `"target" must be a string, got ${JSON.stringify(b.target)}`);
      const target = b.target as string | undefined; // may be empty: the decoder reads <bos> alone
      const warnings: string[] = [];
      const sections = attentionSections(m.loaded, text, {
        target,
        dir: m.name,
        onWarning: (w) => warnings.push(w),
      });
      res.json({ model: m.name, ...attentionPayload(m.loaded, sections), warnings });
    },
  };
}
