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
import {
  ITEMSIZE,
  LONE_SURROGATE,
  SafetensorsError,
  checkMetadata,
  checkedNumel,
  describe,
  isDType,
  parseHeader,
  preview,
  shapeError,
  type RawTensor,
  type SafetensorsDType,
} from './safetensors-header.js';

export {
  ITEMSIZE,
  MAX_HEADER_BYTES,
  MAX_HEADER_DEPTH,
  MAX_HEADER_VALUES,
  MAX_TENSORS,
  SafetensorsError,
  checkedNumel,
  shapeError,
  type RawTensor,
  type SafetensorsDType,
} from './safetensors-header.js';

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

export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Bytes per element of a dtype.
 * @throws SafetensorsError for a name that is not a {@link SafetensorsDType}.
 */
export function dtypeSize(dtype: SafetensorsDType): number {
  if (!isDType(dtype)) throw new SafetensorsError(`unknown dtype ${preview(dtype)}`);
  return ITEMSIZE[dtype];
}

/**
 * Parse a safetensors file held in memory, validating everything the format requires.
 *
 * The returned tensors' `data` are zero-copy views into `buf` (copy before mutating `buf`).
 * Unknown fields inside a tensor entry are ignored, as the reference reader does.
 * The work is bounded before JSON.parse allocates: nesting at most MAX_HEADER_DEPTH, at most
 * MAX_HEADER_VALUES JSON values and MAX_TENSORS tensors (src/io/safetensors-header.ts).
 *
 * @param buf the whole file; only bytes inside this view (byteOffset .. byteOffset+byteLength) are read.
 * @returns tensors in data-offset order and the `__metadata__` map ({} if absent).
 * @throws SafetensorsError when the buffer is shorter than 8 bytes; the header length exceeds the
 *   buffer or 100 MB; the header is not UTF-8, not JSON, or not an object, nests too deep, holds
 *   too many values or tensors, or names a tensor twice; an entry has a missing
 *   or unknown dtype, a shape that is not non-negative integers, data_offsets that are not two
 *   integers with begin <= end, offsets outside the data section, a byte size other than
 *   numel * itemsize; tensors overlap or leave holes or trailing bytes; `__metadata__` is not a
 *   string -> string object.
 * Source: safetensors format spec (huggingface/safetensors README; `SafeTensors::read_metadata`
 * and `Metadata::validate` in `safetensors/src/tensor.rs`).
 */
export function parseSafetensors(buf: Uint8Array): ParsedSafetensors {
  const { dataStart, entries, metadata } = parseHeader(buf);
  const dataLen = buf.byteLength - dataStart;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let prev: string | undefined;
  for (const e of entries) {
    if (e.begin < covered) {
      throw new SafetensorsError(
        `data_offsets [${e.begin}, ${e.end}] overlap tensor ${preview(prev)}, which ends at ${covered}`,
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
  for (const { name, dtype, shape, begin, end } of entries) {
    tensors.set(name, { dtype, shape, data: buf.subarray(dataStart + begin, dataStart + end) });
  }
  return { tensors, metadata };
}

export function checkTensor(t: RawTensor, name?: string): number {
  if (typeof t !== 'object' || t === null) {
    throw new SafetensorsError(`expected a RawTensor, got ${describe(t)}`, name);
  }
  if (!isDType(t.dtype)) {
    throw new SafetensorsError(`unknown dtype ${preview(t.dtype)}`, name);
  }
  const numel = checkedNumel(t.shape, Number.MAX_SAFE_INTEGER);
  if (typeof numel !== 'number') throw new SafetensorsError(shapeError(t.shape), name);
  if (!(t.data instanceof Uint8Array)) {
    throw new SafetensorsError(`data must be a Uint8Array, got ${describe(t.data)}`, name);
  }
  const want = numel * ITEMSIZE[t.dtype];
  if (t.data.byteLength !== want) {
    throw new SafetensorsError(
      `data is ${t.data.byteLength} bytes but ${t.dtype} shape ${preview(t.shape)} needs ${want}`,
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
 * @throws SafetensorsError for a malformed file, its message starting with `path`; Node's fs
 *   errors (ENOENT, ...), their message naming `path` (prefixed when Node's does not).
 * Source: safetensors format spec.
 */
export function readSafetensors(path: string): ParsedSafetensors {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    // Some fs errors (EISDIR: "illegal operation on a directory, read") do not name the path.
    const err = e as NodeJS.ErrnoException;
    if (err.message.includes(path)) throw err;
    throw Object.assign(new Error(`${path}: ${err.message}`, { cause: err }), { code: err.code });
  }
  try {
    return parseSafetensors(bytes);
  } catch (e) {
    throw e instanceof SafetensorsError ? e.inFile(path) : e;
  }
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
