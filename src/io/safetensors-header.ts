/**
 * Safetensors header: the format's element types, the error every malformed file raises, and
 * the bounded parse of the 8-byte length prefix and the JSON header into validated entries.
 * Split from safetensors.ts (which re-exports the public names).
 *
 * The header may be up to 100 MB, and JSON.parse of 100 MB can cost gigabytes (50 million
 * nested arrays: 4.9 GB and 47 s; 1.7 million zero-size tensors: 1.95 GB), so one linear scan
 * of the header text bounds its nesting depth, its number of JSON values and its number of
 * tensors BEFORE JSON.parse allocates anything, and refuses duplicate names.
 *
 * Legend: numel = product(shape) (1 for a scalar, shape []), itemsize = bytes per element.
 * Source: safetensors format spec (huggingface/safetensors README; `SafeTensors::read_metadata`
 * and `Metadata::validate` in `safetensors/src/tensor.rs`).
 */
import { preview, scanJson, type JsonLimits } from './json-file.js';

export { preview };

/** Element types of the safetensors format that this module reads and writes. */
export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

/** One tensor as stored in a safetensors file. */
export interface RawTensor {
  dtype: SafetensorsDType;
  /** Row-major shape; [] is a scalar (1 element), a 0 anywhere makes an empty tensor. */
  shape: number[];
  /** numel * itemsize raw little-endian bytes; after parsing, a zero-copy view of the file buffer. */
  data: Uint8Array;
}

/**
 * Raised for every malformed file or invalid tensor; the message names the file (when read
 * from one), the tensor and the problem.
 */
export class SafetensorsError extends Error {
  /** The tensor the problem is about, when there is one. */
  readonly tensor?: string;
  /** The file the problem is in, when the bytes came from a file. */
  readonly file?: string;
  /** The problem alone, without the file and tensor names. */
  readonly detail: string;
  constructor(message: string, tensor?: string, file?: string) {
    const what = tensor === undefined ? message : `tensor ${preview(tensor)}: ${message}`;
    super(file === undefined ? what : `${file}: ${what}`);
    this.name = 'SafetensorsError';
    this.tensor = tensor;
    this.file = file;
    this.detail = message;
  }

  /** This error, naming `file` (the original is kept as the cause). */
  inFile(file: string): SafetensorsError {
    const e = new SafetensorsError(this.detail, this.tensor, file);
    e.cause = this;
    return e;
  }
}

/** Bytes per element of each dtype (internal; shared with safetensors-convert.ts). */
export const ITEMSIZE: { [K in SafetensorsDType]: number } = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** Largest header the reference reader accepts (`MAX_HEADER_SIZE`, 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;
/**
 * Deepest nesting of JSON arrays and objects in a header: 128, serde_json's recursion limit,
 * so every file the reference reader parses is read here (a valid header needs 3).
 */
export const MAX_HEADER_DEPTH = 128;
/**
 * Most tensors in one file: 100,000 (a Hugging Face shard holds hundreds to a few thousand;
 * each parsed tensor costs about 1 KB, so 1.7 million cost 1.95 GB).
 */
export const MAX_TENSORS = 100_000;
/**
 * Most JSON values in one header (counted as its arrays and objects plus the commas between
 * values): 2,000,000, about 20 per tensor for MAX_TENSORS tensors. Bounds what JSON.parse
 * allocates.
 */
export const MAX_HEADER_VALUES = 2_000_000;

const DTYPES = Object.keys(ITEMSIZE) as SafetensorsDType[];
export const LONE_SURROGATE =
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isDType(x: unknown): x is SafetensorsDType {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(ITEMSIZE, x);
}

/** What a JSON value is, for a message (strings and numbers previewed). */
export function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string') return `the string ${preview(x)}`;
  if (typeof x === 'object') return 'an object';
  return `${typeof x} ${preview(x)}`;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Number of elements of `shape`, or null when it is not an array of non-negative safe integers
 * or the count exceeds `limit` (so products never lose precision).
 */
export function checkedNumel(shape: unknown, limit: number): number | null | 'too-large' {
  if (!Array.isArray(shape)) return null;
  for (const d of shape) if (!Number.isSafeInteger(d) || (d as number) < 0) return null;
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape as number[]) {
    n *= d;
    if (n > limit) return 'too-large';
  }
  return n;
}

export function shapeError(shape: unknown): string {
  return `shape must be an array of non-negative integers, got ${
    Array.isArray(shape) ? preview(shape) : describe(shape)
  }`;
}

/** A validated tensor entry of a header: its byte range in the data section. */
export interface HeaderEntry {
  name: string;
  begin: number;
  end: number;
  dtype: SafetensorsDType;
  shape: number[];
}

/** What {@link parseHeader} returns. */
export interface ParsedHeader {
  /** Byte offset of the data section in the buffer (8 + header length). */
  dataStart: number;
  /** Entries in header order, each checked on its own (not yet against each other). */
  entries: HeaderEntry[];
  metadata: Record<string, string>;
}

/** The bounds of a header's JSON (see the constants above). */
const HEADER_LIMITS: JsonLimits = {
  maxDepth: MAX_HEADER_DEPTH,
  maxValues: MAX_HEADER_VALUES,
  maxMembers: MAX_TENSORS + 1, // the tensors and __metadata__
};

/**
 * Bound the header's JSON before JSON.parse (scanJson): nesting, values, members of one
 * object, at most MAX_TENSORS tensors, no name twice.
 * @throws SafetensorsError naming the bound or the repeated name.
 */
function scanHeader(text: string): void {
  let tensors = 0;
  const problem = scanJson(text, HEADER_LIMITS, (name) =>
    name !== '__metadata__' && ++tensors > MAX_TENSORS
      ? `holds more than ${MAX_TENSORS} tensors`
      : null,
  );
  if (problem) throw new SafetensorsError(`header ${problem}`);
}

/**
 * Parse and validate the length prefix and the JSON header of a safetensors file: every entry
 * has a known dtype, a shape of non-negative integers and data_offsets [begin, end] inside the
 * data section spanning numel * itemsize bytes. Layout (holes, overlaps) is the caller's check.
 * @param buf the whole file (only bytes inside the view are read).
 * @throws SafetensorsError for each problem, naming the tensor when there is one.
 */
export function parseHeader(buf: Uint8Array): ParsedHeader {
  if (!(buf instanceof Uint8Array)) {
    throw new SafetensorsError(`expected a Uint8Array, got ${describe(buf)}`);
  }
  if (buf.byteLength < 8) {
    throw new SafetensorsError(
      `buffer is ${buf.byteLength} bytes, shorter than the 8-byte header length prefix`,
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      `header length ${n64} is too large (limit ${MAX_HEADER_BYTES} bytes; file is ${buf.byteLength} bytes)`,
    );
  }
  const n = Number(n64);
  if (8 + n > buf.byteLength) {
    throw new SafetensorsError(
      `header length ${n} is larger than the ${buf.byteLength - 8} bytes after the length prefix (is the file truncated?)`,
    );
  }
  let text: string;
  try {
    // ignoreBOM keeps a leading BOM in the text, so JSON.parse refuses it like serde_json does.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(
      buf.subarray(8, 8 + n),
    );
  } catch {
    throw new SafetensorsError('header is not valid UTF-8');
  }
  scanHeader(text);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${preview((e as Error).message)}`);
  }
  if (!isPlainObject(header)) {
    throw new SafetensorsError(`header must be a JSON object, got ${describe(header)}`);
  }
  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;
  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') metadata = checkMetadata(entry, true);
    else entries.push(checkEntry(name, entry, dataLen));
  }
  return { dataStart, entries, metadata };
}

/** One tensor entry of the header, checked against the data section's length. */
function checkEntry(name: string, entry: unknown, dataLen: number): HeaderEntry {
  if (LONE_SURROGATE.test(name)) {
    throw new SafetensorsError('name is not valid Unicode (lone surrogate)', name);
  }
  if (!isPlainObject(entry)) {
    throw new SafetensorsError(`entry must be an object, got ${describe(entry)}`, name);
  }
  const { dtype, shape, data_offsets: offsets } = entry;
  if (dtype === undefined) throw new SafetensorsError('missing "dtype"', name);
  if (!isDType(dtype)) {
    throw new SafetensorsError(
      `unknown dtype ${typeof dtype === 'string' ? preview(dtype) : describe(dtype)} (known: ${DTYPES.join(', ')})`,
      name,
    );
  }
  if (shape === undefined) throw new SafetensorsError('missing "shape"', name);
  const numel = checkedNumel(shape, dataLen);
  if (numel === null) throw new SafetensorsError(shapeError(shape), name);
  if (offsets === undefined) throw new SafetensorsError('missing "data_offsets"', name);
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
  ) {
    throw new SafetensorsError(
      `data_offsets must be two non-negative integers [begin, end], got ${
        Array.isArray(offsets) ? preview(offsets) : describe(offsets)
      }`,
      name,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) {
    throw new SafetensorsError(`data_offsets [${begin}, ${end}] have begin > end`, name);
  }
  if (end > dataLen) {
    throw new SafetensorsError(
      `data_offsets [${begin}, ${end}] lie outside the data section of ${dataLen} bytes (is the file truncated?)`,
      name,
    );
  }
  const expected = numel === 'too-large' ? null : numel * ITEMSIZE[dtype];
  if (expected !== end - begin) {
    throw new SafetensorsError(
      `data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} shape ${preview(shape)} needs ${
        expected ?? 'more than the whole data section'
      }${expected === null ? '' : ' bytes'}`,
      name,
    );
  }
  return { name, begin, end, dtype, shape: (shape as number[]).slice() };
}

/**
 * `__metadata__` as a string -> string map (null allowed when reading).
 * @throws SafetensorsError when it is not an object of strings or holds a lone surrogate.
 */
export function checkMetadata(meta: unknown, allowNull: boolean): Record<string, string> {
  if (meta === null && allowNull) return {};
  if (!isPlainObject(meta)) {
    throw new SafetensorsError(
      `__metadata__ must be an object of string -> string, got ${describe(meta)}`,
    );
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(
        `__metadata__ must map strings to strings, but key ${preview(k)} holds ${describe(v)}`,
      );
    }
    if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) {
      throw new SafetensorsError(
        `__metadata__ key ${preview(k)} is not valid Unicode (lone surrogate)`,
      );
    }
    Object.defineProperty(out, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
