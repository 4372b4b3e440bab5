/**
 * The exported train_ddp.py: continues training a transformer-ts model with PyTorch's
 * DistributedDataParallel (gloo backend, CPU) under torchrun, with our recipe
 * (train_config.json: AdamW groups, betas, eps, weight decay, warmup + cosine schedule,
 * label smoothing, clipping) on our training batches (train_batches.safetensors, data.ts),
 * and writes a model directory that `transformer eval` scores.
 *
 * Kept as Python text in a TypeScript string so the compiled package carries it.
 */

/** Python source of train_ddp.py (imports modeling.py from its own folder). */
export const TRAIN_DDP_PY =
  String.raw`"""Continue training a transformer-ts model with PyTorch DistributedDataParallel (gloo, CPU).
Written by ` +
  '`transformer export --format torch`' +
  String.raw`; run it with torchrun:

    torchrun --nproc_per_node 2 train_ddp.py --out CKPT_DIR [--steps 20] [--dropout 0]
    (or: python3 -m torch.distributed.run --nproc_per_node 2 train_ddp.py ...)

On Debian 12 (torch 1.13 on Python 3.11) torchrun's default --redirects 0 fails with
"'NoneType' object has no attribute 'get'" (a Python 3.11 IntFlag change): add
--redirects 1 --tee 1 --log_dir LOGS before train_ddp.py.

It reads, beside itself: modeling.py, config.json, model.safetensors (our checkpoint),
train_config.json (our recipe: AdamW, warmup + cosine schedule, label smoothing, clipping)
and train_batches.safetensors (our tokenized training batches). Step s (1-based) of rank r
trains on batch ((s - 1) * world + r) mod N: DDP averages the gradients of the world's
batches, so one step sees world batches (world times our batch; the learning rate is ours).
Rank 0 prints one JSON line per step and writes CKPT_DIR: model.safetensors, config.json,
tokenizer.json (copied) and losses.jsonl, a model directory transformer-ts loads:

    transformer eval --model CKPT_DIR --data DATA
"""
import argparse
import json
import math
import os
import re
import shutil
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from modeling import CONFIG, load_model, load_safetensors, save_safetensors, state_dict_for_save  # noqa: E402

EMBEDDING = re.compile(r"(^|\.)(wte|wpe|tok_emb|pos_emb|src_tok_emb|tgt_tok_emb)\.")


def weight_decay_groups(model, weight_decay):
    """Decay on 2-D weights that are not embeddings; none on biases, norms, embeddings
    (transformer-ts's weightDecayGroups, minGPT's grouping). Tied tensors count once."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and not EMBEDDING.search(name) else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def cosine_lr(step, s):
    """Linear warmup to maxLr, cosine decay to minLr at totalSteps (nanoGPT's get_lr)."""
    if step <= s["warmup"]:
        return s["maxLr"] * step / max(s["warmup"], 1)
    if step >= s["totalSteps"]:
        return s["minLr"]
    ratio = (step - s["warmup"]) / (s["totalSteps"] - s["warmup"])
    return s["minLr"] + 0.5 * (1 + math.cos(math.pi * ratio)) * (s["maxLr"] - s["minLr"])


def batch_loss(model, task, batch, label_smoothing, pad_id):
    """Our training loss of one batch: cross-entropy (translate: padding ignored, label smoothing)."""
    if task == "lm":
        logits = model(batch["x"])  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten())
    if task == "translate":
        logits = model(batch["src"], batch["tgt_in"])  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), batch["tgt_out"].flatten(),
                               ignore_index=pad_id, label_smoothing=label_smoothing)
    return F.cross_entropy(model(batch["ids"]), batch["labels"])  # (B, K)


def read_batches(path):
    tensors, meta = load_safetensors(path)
    batches = [dict() for _ in range(int(meta["batches"]))]
    for key, t in tensors.items():
        _, i, name = key.split(".", 2)
        batches[int(i)][name] = t.long()
    return batches, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="checkpoint directory to write")
    ap.add_argument("--steps", type=int, help="optimizer steps (default: train_config.json's)")
    ap.add_argument("--dropout", type=float, help="override the config's dropout (0: exact losses)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--seed", type=int, default=0, help="dropout seed (plus the rank)")
    args = ap.parse_args()

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed + rank)
    with open(os.path.join(HERE, "train_config.json")) as f:
        recipe = json.load(f)
    steps = args.steps or recipe["steps"]
    batches, meta = read_batches(os.path.join(HERE, "train_batches.safetensors"))
    if rank == 0 and steps * world > len(batches):
        print(f"note: {steps} steps x {world} ranks need {steps * world} batches, "
              f"the file has {len(batches)}: they repeat", file=sys.stderr)

    model = load_model(HERE, dropout=args.dropout)  # strict: our names and shapes
    ddp = DistributedDataParallel(model)
    o = recipe["optimizer"]
    opt = torch.optim.AdamW(weight_decay_groups(model, o["weightDecay"]), lr=o["lr"],
                            betas=tuple(o["betas"]), eps=o["eps"])
    task, pad_id = CONFIG["task"], int(meta["pad_id"])
    losses = []
    t0 = time.time()
    for step in range(1, steps + 1):
        lr = cosine_lr(step, recipe["schedule"])
        for g in opt.param_groups:
            g["lr"] = lr
        batch = batches[((step - 1) * world + rank) % len(batches)]
        ddp.train()
        opt.zero_grad(set_to_none=True)
        loss = batch_loss(ddp, task, batch, recipe["labelSmoothing"], pad_id)
        loss.backward()  # DDP all-reduces (averages) the gradients here
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), recipe["clipGradNorm"])
        opt.step()
        every = torch.tensor([loss.item()])
        dist.all_reduce(every)
        if rank == 0:
            rec = {"step": step, "loss": loss.item(), "loss_mean": every.item() / world,
                   "lr": lr, "grad_norm": grad_norm.item(), "seconds": time.time() - t0}
            losses.append(rec)
            print(json.dumps(rec), flush=True)

    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        save_safetensors(os.path.join(args.out, "model.safetensors"), state_dict_for_save(model),
                         {"task": CONFIG["task"], "model": CONFIG["model"], "written_by": "train_ddp.py"})
        for name in ("config.json", "tokenizer.json", "tokenizer_target.json"):
            if os.path.exists(os.path.join(HERE, name)):
                shutil.copyfile(os.path.join(HERE, name), os.path.join(args.out, name))
        with open(os.path.join(args.out, "losses.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in losses)
        print(f"wrote {args.out} ({world} processes, {steps} steps, {time.time() - t0:.1f} s)",
              file=sys.stderr)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
`;
