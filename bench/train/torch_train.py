"""PyTorch CPU LoRA training throughput for the bench model (run by bench/train/run.mjs with OPENBLAS_NUM_THREADS=2)."""
import argparse
import json
import time

import torch

from torch_model import TARGETS, Model, module_path

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=6)
ap.add_argument("--threads", type=int, default=1)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
cfg = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, intermediate_size=688,
           vocab_size=4096, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False)
H, I, V, L, r = 256, 688, 4096, 4, 16
kv = 2 * 64
dims = {"q_proj": (H, H), "k_proj": (kv, H), "v_proj": (kv, H), "o_proj": (H, H), "gate_proj": (I, H), "up_proj": (I, H), "down_proj": (H, I)}
w = {"model.embed_tokens.weight": torch.randn(V, H) * 0.02, "model.norm.weight": torch.ones(H), "lm_head.weight": torch.randn(V, H) * 0.02}
lora = {}
params = []
for l in range(L):
    w[f"model.layers.{l}.input_layernorm.weight"] = torch.ones(H)
    w[f"model.layers.{l}.post_attention_layernorm.weight"] = torch.ones(H)
    for m in TARGETS:
        o, i = dims[m]
        p = module_path(l, m)
        w[p + ".weight"] = torch.randn(o, i) * 0.02
        A = (torch.rand(r, i) * 2 - 1) / i ** 0.5
        B = torch.zeros(o, r)
        A.requires_grad_(True)
        B.requires_grad_(True)
        lora[p] = (A, B)
        params += [A, B]
model = Model(cfg, w, lora, scale=2.0)
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
Bsz, T = 4, 256
times = []
for step in range(a.steps + 2):
    ids = torch.randint(10, V, (Bsz, T))
    t0 = time.perf_counter()
    loss = model.loss(ids, ids)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad()
    times.append(time.perf_counter() - t0)
measured = times[2:]  # same warm-up exclusion as the CLARA side
print(json.dumps({"tokensPerSec": round(len(measured) * Bsz * T / sum(measured)), "torch": torch.__version__, "intraOpThreads": a.threads,
                  "steps": len(measured)}))
