/**
 * The core modules form no import cycle (type-only imports included, as madge counts
 * them): tensor.ts imports neither autograd nor the gradient table, autograd.ts registers
 * the pass `Tensor.backward` runs. Checked by reading the relative imports of src/.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** Every .ts file under `dir`, as paths relative to src/. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [relative(SRC, p)] : [];
  });
}

/** Module -> the src modules it imports or re-exports from (relative specifiers). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(join(SRC, file), 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(
      /(?:^|\n)\s*(?:import|export)\b[^;]*?['"](\.{1,2}\/[^'"]+)['"]/g,
    )) {
      const spec = m[1].replace(/\.js$/, '.ts');
      deps.push(relative(SRC, resolve(join(SRC, dirname(file)), spec)));
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Strongly connected components with more than one module (Tarjan), i.e. the cycles. */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

const CORE = /^(tensor|arena|random|autograd)\.ts$|^(autograd|ops|backend)\//;

test('the tensor, autograd, gradient table and backend modules are in no import cycle', () => {
  const graph = importGraph();
  assert.ok(graph.get('tensor.ts')!.includes('arena.ts'), 'the import reader sees imports');
  assert.ok(!graph.get('tensor.ts')!.includes('autograd.ts'));
  const core = cycles(graph).filter((scc) => scc.some((m) => CORE.test(m)));
  assert.deepEqual(core, []);
  // The reader finds a cycle when there is one.
  const cyclic = new Map(graph);
  cyclic.set('tensor.ts', [...graph.get('tensor.ts')!, 'autograd.ts']);
  assert.ok(cycles(cyclic).some((scc) => scc.includes('tensor.ts') && scc.includes('autograd.ts')));
});

test('Tensor.backward without autograd loaded throws a clear error', () => {
  const url = pathToFileURL(join(SRC, 'tensor.ts')).href;
  const script = `import { tensor } from '${url}';
try { tensor([2]).requiresGrad_().backward(); console.log('no error'); }
catch (e) { console.log(e.message); }`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /backward\(\): autograd is not loaded/);
});
