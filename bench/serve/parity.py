"""Outside check for serving: logits of CLARA's KV-cache inference graph (prefill, then one token at a time, rows with
and without an adapter in ONE batch) vs a plain-PyTorch forward over the whole sequence (bench/train/torch_model.py),
fp32. Usage: parity.py DUMP.json  (written by parity.mjs). Prints the max relative error per case; exit 1 above 1e-4."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "train"))
from torch_model import Model, read_safetensors  # noqa: E402

dump = json.load(open(sys.argv[1]))
worst = 0.0
for case in dump["cases"]:
    cfg = json.load(open(os.path.join(case["modelDir"], "config.json")))
    w = {}
    for f in sorted(os.listdir(case["modelDir"])):
        if f.endswith(".safetensors"):
            w.update(read_safetensors(os.path.join(case["modelDir"], f)))
    for row in case["rows"]:
        lora, scale = None, 1.0
        if row["adapterDir"]:
            acfg = json.load(open(os.path.join(row["adapterDir"], "adapter_config.json")))
            t = {k.replace("base_model.model.", ""): v for k, v in read_safetensors(os.path.join(row["adapterDir"], "adapter_model.safetensors")).items()}
            lora = {k[: -len(".lora_A.weight")]: (v, t[k.replace("lora_A", "lora_B")]) for k, v in t.items() if k.endswith(".lora_A.weight")}
            scale = acfg["lora_alpha"] / acfg["r"]
        model = Model(cfg, w, lora, scale)
        ids = torch.tensor([row["sequence"]])
        with torch.no_grad():
            ref = model.forward(ids)[0].float()
        got = torch.tensor(row["logits"]).reshape(len(row["sequence"]), -1)
        rel = ((got - ref).abs().max() / ref.abs().max()).item()
        worst = max(worst, rel)
        print(f"{case['name']:<28} {'adapter' if row['adapterDir'] else 'base':<8} positions {len(row['sequence']):>2}  max rel err {rel:.2e}")
print(f"worst {worst:.2e} (limit 1e-4)")
sys.exit(0 if worst < 1e-4 else 1)
