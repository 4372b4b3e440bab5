/**
 * Fixtures for test/export/torch.test.ts: a tiny model of each kind (decoder-only LM,
 * encoder-decoder, classifier) goes through the exported modeling.py in PyTorch, takes one
 * AdamW step there (so its weights are PyTorch's, not ours), and is written back by
 * modeling.py's safetensors writer, with PyTorch's eval-mode logits on fixed inputs.
 * The test loads each model.safetensors into our model and compares the logits.
 *
 * Needs Debian's python3-torch: node --import tsx scripts/make_torch_export_fixtures.ts
 * Writes test/fixtures/torch-export/{lm,seq2seq,classifier}/{config.json,model.safetensors,io.json}.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DecoderLM,
  EncoderClassifier,
  Generator,
  Seq2SeqTransformer,
  saveModel,
  type Module,
} from '../src/index.js';
import { modelingPython } from '../src/export/torch/index.js';
import type { ModelDirConfig } from '../src/tasks/modeldir.js';

const OUT = 'test/fixtures/torch-export';
const gen = new Generator(2026);
const models: [string, ModelDirConfig['task'], string, Module & { config: object }][] = [
  [
    'lm',
    'lm',
    'DecoderLM',
    new DecoderLM(
      { vocabSize: 11, blockSize: 8, dModel: 8, nhead: 2, numLayers: 2, dimFeedforward: 16 },
      gen,
    ),
  ],
  [
    'seq2seq',
    'translate',
    'Seq2SeqTransformer',
    new Seq2SeqTransformer(
      {
        srcVocabSize: 13,
        tgtVocabSize: 13,
        dModel: 8,
        nhead: 2,
        numEncoderLayers: 1,
        numDecoderLayers: 2,
        dimFeedforward: 16,
        maxLen: 16,
      },
      gen,
    ),
  ],
  [
    'classifier',
    'classify',
    'EncoderClassifier',
    new EncoderClassifier(
      {
        vocabSize: 12,
        numClasses: 3,
        dModel: 8,
        nhead: 2,
        numLayers: 2,
        dimFeedforward: 16,
        maxLen: 16,
        position: 'learned',
        normFirst: false,
        activation: 'relu',
      },
      gen,
    ),
  ],
];

/** The Python side: load, one AdamW step on a fixed batch, save, eval-mode logits. */
const DRIVER = String.raw`
import json, sys, torch
sys.path.insert(0, sys.argv[1])
from modeling import load_model, save_safetensors, state_dict_for_save, CONFIG
torch.manual_seed(0)
model = load_model(sys.argv[1])
task = CONFIG["task"]
if task == "lm":
    inputs = {"x": [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 1, 2]]}
    run = lambda m, t: m(t["x"])
elif task == "translate":
    inputs = {"src": [[3, 4, 5, 6, 2], [7, 8, 2, 0, 0]], "tgt": [[1, 9, 10, 11], [1, 12, 0, 0]]}
    run = lambda m, t: m(t["src"], t["tgt"])
else:
    inputs = {"ids": [[1, 3, 4, 5, 6, 7], [1, 8, 9, 0, 0, 0]]}
    run = lambda m, t: m(t["ids"])
t = {k: torch.tensor(v) for k, v in inputs.items()}
opt = torch.optim.AdamW(model.parameters(), lr=0.05)
model.train()
run(model, t).square().mean().backward()
opt.step()
model.eval()
with torch.no_grad():
    logits = run(model, t)
save_safetensors(sys.argv[2] + "/model.safetensors", state_dict_for_save(model), {"written_by": "torch"})
with open(sys.argv[2] + "/io.json", "w") as f:
    json.dump({"inputs": inputs, "shape": list(logits.shape), "logits": logits.flatten().tolist()}, f)
`;

for (const [name, task, cls, model] of models) {
  const tmp = mkdtempSync(join(tmpdir(), 'torch-fixture-'));
  const dirConfig: ModelDirConfig = {
    task,
    model: cls,
    config: { ...model.config } as Record<string, unknown>,
  };
  saveModel(model, join(tmp, 'model.safetensors'));
  writeFileSync(join(tmp, 'modeling.py'), modelingPython(dirConfig));
  const out = join(OUT, name);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), JSON.stringify(dirConfig, null, 2) + '\n');
  execFileSync('/usr/bin/python3', ['-c', DRIVER, tmp, out], { stdio: 'inherit' });
  console.log(`wrote ${out}`);
}
