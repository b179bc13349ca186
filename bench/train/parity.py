"""Outside check: loss and LoRA gradients of one SGD step (lr 1) from an init adapter, CLARA vs PyTorch (fp32).
Usage: parity.py MODEL_DIR INIT_ADAPTER_DIR OUT_ADAPTER_DIR DATA.jsonl CLARA_LOSS"""
import glob
import json
import os
import sys

import torch

from torch_model import Model, read_safetensors

model_dir, init_dir, out_dir, data, clara_loss = sys.argv[1:6]
cfg = json.load(open(os.path.join(model_dir, "config.json")))
w = {}
for f in sorted(glob.glob(os.path.join(model_dir, "*.safetensors"))):
    w.update(read_safetensors(f))
acfg = json.load(open(os.path.join(init_dir, "adapter_config.json")))
init = {k.replace("base_model.model.", ""): v for k, v in read_safetensors(os.path.join(init_dir, "adapter_model.safetensors")).items()}
after = {k.replace("base_model.model.", ""): v for k, v in read_safetensors(os.path.join(out_dir, "adapter_model.safetensors")).items()}
lora = {}
for k, v in init.items():
    if k.endswith(".lora_A.weight"):
        p = k[: -len(".lora_A.weight")]
        lora[p] = (v.clone().requires_grad_(True), init[p + ".lora_B.weight"].clone().requires_grad_(True))
scale = acfg["lora_alpha"] / (acfg["r"] ** 0.5 if acfg.get("use_rslora") else acfg["r"])
m = Model(cfg, w, lora, scale)
rec = json.loads(open(data).readline())
ids = torch.tensor([rec["input_ids"]])
labels = torch.tensor([rec.get("labels", rec["input_ids"])])
loss = m.loss(ids, labels)
loss.backward()
worst = 0.0
for p, (A, B) in lora.items():
    for name, t in ((p + ".lora_A.weight", A), (p + ".lora_B.weight", B)):
        ours = init[name] - after[name]  # SGD, lr 1: new = old - grad
        rel = ((ours - t.grad).abs().max() / t.grad.abs().max().clamp_min(1e-12)).item()
        worst = max(worst, rel)
print(json.dumps({"torchLoss": loss.item(), "claraLoss": float(clara_loss), "lossRelErr": abs(loss.item() - float(clara_loss)) / abs(loss.item()), "gradMaxRelErr": worst}))
