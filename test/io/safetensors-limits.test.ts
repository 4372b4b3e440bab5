/**
 * Hostile safetensors headers (issue #11.13, #11.15): nesting depth, value and tensor counts
 * are bounded before JSON.parse allocates; duplicate names are refused; every malformed file
 * gives a SafetensorsError with a short message naming the file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAX_HEADER_DEPTH,
  MAX_HEADER_VALUES,
  MAX_TENSORS,
  SafetensorsError,
  fromFloat32,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
} from '../../src/io/safetensors.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { Linear } from '../../src/nn/layers.js';
import { Generator } from '../../src/random.js';

const enc = new TextEncoder();
const EMPTY = '{"dtype":"U8","shape":[0],"data_offsets":[0,0]}';

/** A file whose header is `json` (unpadded), with no data bytes. */
function craft(json: string): Uint8Array {
  const j = enc.encode(json);
  const out = new Uint8Array(8 + j.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
  out.set(j, 8);
  return out;
}

/** parseSafetensors(buf) throws a SafetensorsError matching `re` (never a RangeError). */
function refused(buf: Uint8Array, re: RegExp): SafetensorsError {
  let err: unknown;
  assert.throws(
    () => parseSafetensors(buf),
    (e: unknown) => {
      err = e;
      return true;
    },
  );
  assert.ok(err instanceof SafetensorsError, `expected SafetensorsError, got ${String(err)}`);
  assert.match(err.message, re);
  return err;
}

const tensors = (n: number, entry = EMPTY): string =>
  '{' + Array.from({ length: n }, (_, i) => `"t${i}":${entry}`).join(',') + '}';

test('nesting deeper than MAX_HEADER_DEPTH is refused before JSON.parse (shape or unknown field)', () => {
  assert.equal(MAX_HEADER_DEPTH, 128);
  // 4,100 deep in `shape` threw RangeError (Maximum call stack size exceeded) from the message.
  const deepShape = `{"a":{"dtype":"U8","shape":${'['.repeat(4100)}0${']'.repeat(4100)},"data_offsets":[0,0]}}`;
  refused(
    craft(deepShape),
    new RegExp(`more than 128 deep \\(at character ${deepShape.indexOf('[') + 126}\\)`),
  );
  // An unterminated million-deep unknown field: refused at its 129th bracket, not parsed.
  const deepField = `{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":${'['.repeat(1e6)}`;
  refused(
    craft(deepField),
    new RegExp(`more than 128 deep \\(at character ${deepField.indexOf('[[') + 126}\\)`),
  );
  // 128 deep is the reference's limit and is read (an ignored unknown field).
  const ok = `{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":${'['.repeat(126)}${']'.repeat(126)}}}`;
  assert.equal(parseSafetensors(craft(ok)).tensors.size, 1);
  // Brackets inside strings do not count.
  const quoted = `{"__metadata__":{"k":"${'['.repeat(1000)}"}}`;
  assert.equal(parseSafetensors(craft(quoted)).metadata.k!.length, 1000);
});

test('more than MAX_TENSORS tensors or MAX_HEADER_VALUES values are refused', () => {
  assert.equal(MAX_TENSORS, 100_000);
  refused(craft(tensors(MAX_TENSORS + 1)), /more than 100000 tensors/);
  assert.equal(parseSafetensors(craft(tensors(1000))).tensors.size, 1000);
  // One object with too many members, at any depth (V8 builds such objects slowly).
  const meta = Array.from({ length: MAX_TENSORS + 2 }, (_, i) => `"k${i}":""`).join(',');
  refused(craft(`{"__metadata__":{${meta}}}`), /more than 100001 members in one object/);
  // Millions of small values in an ignored field.
  const many = `{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":[${'[],'.repeat(MAX_HEADER_VALUES / 2)}0]}}`;
  refused(craft(many), /more than 2000000 JSON values/);
});

test('a name given twice is refused (JSON.parse would keep the last silently)', () => {
  const f32 = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
  const json = `{"w":${f32},"w":${f32}}`;
  const buf = new Uint8Array(craft(json).length + 4);
  buf.set(craft(json));
  refused(buf, /names "w" twice/);
  // The same name spelled with an escape is the same name.
  refused(craft(`{"a":${EMPTY},"\\u0061":${EMPTY}}`), /names "a" twice/);
  // Equal keys inside different objects are fine.
  const two = `{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"b":${EMPTY},"__metadata__":{"a":"1"}}`;
  assert.equal(parseSafetensors(craft(two)).tensors.size, 2);
});

test('messages stay short whatever the size of the offending value', () => {
  const name = 'n'.repeat(1e6);
  const cases = [
    craft(`{"${name}":{"dtype":"Q4","shape":[0],"data_offsets":[0,0]}}`),
    craft(`{"a":{"dtype":"${name}","shape":[0],"data_offsets":[0,0]}}`),
    craft(`{"a":{"dtype":"U8","shape":[${'-1,'.repeat(1e5)}0],"data_offsets":[0,0]}}`),
    craft(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[${'0,'.repeat(1e5)}0]}}`),
    craft(`{"__metadata__":{"${name}":1}}`),
  ];
  for (const buf of cases) assert.ok(refused(buf, /./).message.length < 400);
});

test('readSafetensors and loadModel name the file in every error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'safetensors-limits-'));
  try {
    const path = join(dir, 'model.safetensors');
    const good = serializeSafetensors({ w: fromFloat32(Float32Array.from([1, 2, 3, 4]), [2, 2]) });
    writeFileSync(path, good.subarray(0, good.length - 3)); // truncated
    assert.throws(
      () => readSafetensors(path),
      (e: unknown) =>
        e instanceof SafetensorsError &&
        e.file === path &&
        e.tensor === 'w' &&
        e.message.startsWith(`${path}: tensor "w": data_offsets [0, 16] lie outside`) &&
        /is the file truncated\?/.test(e.message),
    );
    writeFileSync(path, craft(`{"a":${EMPTY},"a":${EMPTY}}`));
    assert.throws(
      () => readSafetensors(path),
      (e: Error) => e.message.startsWith(`${path}: header names "a" twice`),
    );

    // loadModel: a file that parses but does not fit the model names the file too.
    const model = new Linear(2, 3, { generator: new Generator(1) });
    writeFileSync(path, good);
    assert.throws(
      () => loadModel(model, path),
      (e: Error) => e.message.startsWith(`loadModel: ${path}: `) && /weight/.test(e.message),
    );
    // A directory or a missing file: Node's error, naming the path.
    assert.throws(
      () => readSafetensors(dir),
      (e: Error) => e.message.startsWith(`${dir}: EISDIR`),
    );
    assert.throws(() => readSafetensors(join(dir, 'none')), /ENOENT.*none/);
    const other = join(dir, 'other.safetensors');
    saveModel(model, other);
    assert.doesNotThrow(() => loadModel(model, other));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
