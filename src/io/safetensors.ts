/**
 * Safetensors reader and writer (Hugging Face format), with no dependency on the rest of the library.
 *
 * File layout (safetensors format spec, huggingface/safetensors README and `safetensors/src/tensor.rs`):
 *   - 8 bytes: N, a little-endian u64, the byte length of the header;
 *   - N bytes: a UTF-8 JSON object `{name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}`
 *     with an optional `"__metadata__": {string: string}`; writers pad it with spaces to a
 *     multiple of 8 so that the data section starts 8-byte aligned;
 *   - the data section: every tensor's raw little-endian, row-major bytes. Offsets are relative to
 *     the start of the data section and must cover it exactly: no holes, no overlaps, nothing left.
 *
 * Legend: numel = product(shape) (1 for a scalar, shape []), itemsize = bytes per element.
 */
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';

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

export {
  toFloat32,
  toInt32,
  toBool,
  fromFloat32,
  fromInt32,
  fromBool,
} from './safetensors-convert.js';

/** What {@link parseSafetensors} and {@link readSafetensors} return. */
export interface ParsedSafetensors {
  /** Tensors in data-offset order (the order of their bytes in the file). */
  tensors: Map<string, RawTensor>;
  /** The `__metadata__` object, or {} when the file has none. */
  metadata: Record<string, string>;
}

/** Raised for every malformed file or invalid tensor; the message names the tensor and the problem. */
export class SafetensorsError extends Error {
  /** The tensor the problem is about, when there is one. */
  readonly tensor?: string;
  constructor(message: string, tensor?: string) {
    super(tensor === undefined ? message : `tensor ${JSON.stringify(tensor)}: ${message}`);
    this.name = 'SafetensorsError';
    this.tensor = tensor;
  }
}

/** Bytes per element, keyed by dtype. */
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

/**
 * Position in the reference `Dtype` enum (safetensors `tensor.rs`, "increasing alignment order").
 * The reference writer lays tensors out by descending rank, then by name, so every tensor in a
 * written file is aligned to its itemsize.
 */
const RANK: { [K in SafetensorsDType]: number } = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  F8_E5M2: 3,
  F8_E4M3: 4,
  I16: 5,
  U16: 6,
  F16: 7,
  BF16: 8,
  I32: 9,
  U32: 10,
  F32: 11,
  F64: 12,
  I64: 13,
  U64: 14,
};

/** Largest header the reference reader accepts (`MAX_HEADER_SIZE`, 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

const DTYPES = Object.keys(ITEMSIZE) as SafetensorsDType[];
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Bytes per element of a dtype.
 * @throws SafetensorsError for a name that is not a {@link SafetensorsDType}.
 */
export function dtypeSize(dtype: SafetensorsDType): number {
  if (!isDType(dtype)) throw new SafetensorsError(`unknown dtype ${JSON.stringify(dtype)}`);
  return ITEMSIZE[dtype];
}

function isDType(x: unknown): x is SafetensorsDType {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(ITEMSIZE, x);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string') return `the string ${JSON.stringify(x)}`;
  if (typeof x === 'object') return 'an object';
  return `${typeof x} ${String(x)}`;
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
    Array.isArray(shape) ? JSON.stringify(shape) : describe(shape)
  }`;
}

/**
 * Parse a safetensors file held in memory, validating everything the format requires.
 *
 * The returned tensors' `data` are zero-copy views into `buf` (copy before mutating `buf`).
 * Unknown fields inside a tensor entry are ignored, as the reference reader does.
 *
 * @param buf the whole file; only bytes inside this view (byteOffset .. byteOffset+byteLength) are read.
 * @returns tensors in data-offset order and the `__metadata__` map ({} if absent).
 * @throws SafetensorsError when the buffer is shorter than 8 bytes; the header length exceeds the
 *   buffer or 100 MB; the header is not UTF-8, not JSON, or not an object; an entry has a missing
 *   or unknown dtype, a shape that is not non-negative integers, data_offsets that are not two
 *   integers with begin <= end, offsets outside the data section, a byte size other than
 *   numel * itemsize; tensors overlap or leave holes or trailing bytes; `__metadata__` is not a
 *   string -> string object.
 * Source: safetensors format spec (huggingface/safetensors README; `SafeTensors::read_metadata`
 * and `Metadata::validate` in `safetensors/src/tensor.rs`).
 */
export function parseSafetensors(buf: Uint8Array): ParsedSafetensors {
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
      `header length ${n} is larger than the ${buf.byteLength - 8} bytes after the length prefix`,
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
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) {
    throw new SafetensorsError(`header must be a JSON object, got ${describe(header)}`);
  }

  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;
  let metadata: Record<string, string> = {};
  const entries: { name: string; begin: number; end: number; tensor: Omit<RawTensor, 'data'> }[] =
    [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(entry, true);
      continue;
    }
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
        `unknown dtype ${typeof dtype === 'string' ? JSON.stringify(dtype) : describe(dtype)} (known: ${DTYPES.join(', ')})`,
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
          Array.isArray(offsets) ? JSON.stringify(offsets) : describe(offsets)
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
        `data_offsets [${begin}, ${end}] lie outside the data section of ${dataLen} bytes`,
        name,
      );
    }
    const expected = numel === 'too-large' ? null : numel * ITEMSIZE[dtype];
    if (expected !== end - begin) {
      throw new SafetensorsError(
        `data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} shape ${JSON.stringify(shape)} needs ${
          expected ?? 'more than the whole data section'
        }${expected === null ? '' : ' bytes'}`,
        name,
      );
    }
    entries.push({ name, begin, end, tensor: { dtype, shape: (shape as number[]).slice() } });
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let prev: string | undefined;
  for (const e of entries) {
    if (e.begin < covered) {
      throw new SafetensorsError(
        `data_offsets [${e.begin}, ${e.end}] overlap tensor ${JSON.stringify(prev)}, which ends at ${covered}`,
        e.name,
      );
    }
    if (e.begin > covered) {
      throw new SafetensorsError(
        `hole in the data section: bytes [${covered}, ${e.begin}) before this tensor belong to no tensor`,
        e.name,
      );
    }
    covered = e.end;
    prev = e.name;
  }
  if (covered !== dataLen) {
    throw new SafetensorsError(
      `data section is ${dataLen} bytes but tensors cover only [0, ${covered}): ${dataLen - covered} trailing bytes belong to no tensor`,
    );
  }

  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    tensors.set(e.name, {
      ...e.tensor,
      data: buf.subarray(dataStart + e.begin, dataStart + e.end),
    });
  }
  return { tensors, metadata };
}

function checkMetadata(meta: unknown, allowNull: boolean): Record<string, string> {
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
        `__metadata__ must map strings to strings, but key ${JSON.stringify(k)} holds ${describe(v)}`,
      );
    }
    if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) {
      throw new SafetensorsError(
        `__metadata__ key ${JSON.stringify(k)} is not valid Unicode (lone surrogate)`,
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

export function checkTensor(t: RawTensor, name?: string): number {
  if (typeof t !== 'object' || t === null) {
    throw new SafetensorsError(`expected a RawTensor, got ${describe(t)}`, name);
  }
  if (!isDType(t.dtype)) {
    throw new SafetensorsError(`unknown dtype ${JSON.stringify(t.dtype)}`, name);
  }
  const numel = checkedNumel(t.shape, Number.MAX_SAFE_INTEGER);
  if (typeof numel !== 'number') throw new SafetensorsError(shapeError(t.shape), name);
  if (!(t.data instanceof Uint8Array)) {
    throw new SafetensorsError(`data must be a Uint8Array, got ${describe(t.data)}`, name);
  }
  const want = numel * ITEMSIZE[t.dtype];
  if (t.data.byteLength !== want) {
    throw new SafetensorsError(
      `data is ${t.data.byteLength} bytes but ${t.dtype} shape ${JSON.stringify(t.shape)} needs ${want}`,
      name,
    );
  }
  return numel;
}

// ---------------------------------------------------------------------------------------------
// Writing

const utf8 = new TextEncoder();

function compareUtf8(a: string, b: string): number {
  // Rust's String ordering is bytewise on UTF-8, which differs from JS's UTF-16 order.
  const ea = utf8.encode(a);
  const eb = utf8.encode(b);
  const m = Math.min(ea.length, eb.length);
  for (let i = 0; i < m; i++) if (ea[i] !== eb[i]) return ea[i]! - eb[i]!;
  return ea.length - eb.length;
}

/**
 * Serialize tensors to safetensors bytes, laid out exactly as the reference (Rust/Python
 * `safetensors`) writer does: tensors sorted by descending dtype alignment rank, then by name
 * (UTF-8 bytewise); header `{"__metadata__":{...},"name":{"dtype","shape","data_offsets"},...}`
 * in that order with no whitespace; padded with spaces to a multiple of 8 bytes. `__metadata__`
 * is written only when `metadata` is given (even if empty); its keys are sorted (the reference
 * writes them in hash order, so a byte-exact match holds for at most one key).
 *
 * @param tensors name -> tensor; names must be valid Unicode and not `__metadata__`.
 * @param metadata optional string -> string map.
 * @returns a fresh Uint8Array holding the whole file.
 * @throws SafetensorsError when a tensor's dtype is unknown, its shape invalid, its data not a
 *   Uint8Array of numel * itemsize bytes, a name is reserved or not valid Unicode, or metadata is
 *   not string -> string.
 * Source: safetensors format spec; `prepare`/`serialize` in `safetensors/src/tensor.rs`.
 */
export function serializeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const items: [string, RawTensor][] =
    tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of items) {
    if (typeof name !== 'string') throw new SafetensorsError(`tensor name must be a string`);
    if (name === '__metadata__') {
      throw new SafetensorsError('"__metadata__" is reserved and cannot name a tensor', name);
    }
    if (LONE_SURROGATE.test(name)) {
      throw new SafetensorsError('name is not valid Unicode (lone surrogate)', name);
    }
    checkTensor(t, name);
  }
  items.sort(([na, a], [nb, b]) => RANK[b.dtype] - RANK[a.dtype] || compareUtf8(na, nb));

  const parts: string[] = [];
  if (metadata !== undefined) {
    const m = checkMetadata(metadata, false);
    const keys = Object.keys(m).sort(compareUtf8);
    const body = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(m[k])}`).join(',');
    parts.push(`"__metadata__":{${body}}`);
  }
  let offset = 0;
  for (const [name, t] of items) {
    const end = offset + t.data.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const headerLen = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const [, t] of items) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}

/**
 * Read and parse a safetensors file (synchronously, whole file in memory).
 * @returns as {@link parseSafetensors}; tensor data are views into the file's bytes.
 * @throws SafetensorsError for a malformed file; Node's fs errors (ENOENT, ...) as they come.
 * Source: safetensors format spec.
 */
export function readSafetensors(path: string): ParsedSafetensors {
  return parseSafetensors(readFileSync(path));
}

/**
 * Write tensors to `path` atomically: serialize in memory first, write a temporary file
 * `${path}.tmp-${pid}-${random}` in the same directory, fsync it, rename it over `path`, then
 * fsync the directory (best effort). On any error the temporary file is removed and an existing
 * file at `path` is left untouched.
 * @param tensors, metadata as {@link serializeSafetensors}.
 * @throws SafetensorsError for invalid tensors (before touching the file system); fs errors.
 * Source: safetensors format spec; layout as the reference writer.
 */
export function writeSafetensors(
  path: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  const bytes = serializeSafetensors(tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    let written = 0;
    while (written < bytes.length) {
      written += writeSync(fd, bytes, written, bytes.length - written);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // the temporary file may not exist
    }
    throw e;
  }
  try {
    const dfd = openSync(dirname(resolve(path)), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // directory fsync is not supported everywhere; the rename itself has happened
  }
}
