"""Check that a transformer-ts checkpoint loads in PyTorch with strict=True and gives the
same outputs. Needs Debian's python3-torch and the `safetensors` package:

    node --import tsx scripts/export_for_torch_check.ts /tmp/interop
    /usr/bin/python3 scripts/check_torch_interop.py /tmp/interop
"""
import sys

import torch
from safetensors.torch import load_file

d = sys.argv[1] if len(sys.argv) > 1 else "interop-check"
sd = load_file(f"{d}/model.safetensors")
io = load_file(f"{d}/io.safetensors")
m = torch.nn.Transformer(d_model=24, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                         dim_feedforward=48, dropout=0.0, activation="gelu", batch_first=True,
                         norm_first=True)
m.load_state_dict(sd, strict=True)
m.eval()
with torch.no_grad():
    mask = torch.nn.Transformer.generate_square_subsequent_mask(io["tgt"].shape[1])
    y = m(io["src"], io["tgt"], tgt_mask=mask)
diff = (y - io["out"]).abs().max().item()
print(f"load_state_dict(strict=True): ok; {len(sd)} tensors; max |torch - ours| = {diff:.3e}")
sys.exit(0 if diff < 1e-5 else 1)
