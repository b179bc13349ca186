"""A plain-PyTorch Llama/Mistral/Qwen2 with PEFT-style LoRA, written from the Hugging Face modeling code
(eager attention). Benchmark and parity reference only: never a product or test dependency."""
import json
import math
import struct

import torch
import torch.nn.functional as F

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        raw = bytearray(data[s:e])
        if v["dtype"] == "F32":
            t = torch.frombuffer(raw, dtype=torch.float32)
        elif v["dtype"] == "BF16":
            t = torch.frombuffer(raw, dtype=torch.bfloat16).float()
        elif v["dtype"] == "F16":
            t = torch.frombuffer(raw, dtype=torch.float16).float()
        else:
            raise ValueError(v["dtype"])
        out[k] = t.reshape(v["shape"]).clone()
    return out


def module_path(layer, m):
    return f"model.layers.{layer}.{'mlp' if m in ('gate_proj', 'up_proj', 'down_proj') else 'self_attn'}.{m}"


class Model:
    def __init__(self, cfg, weights, lora=None, scale=1.0):
        """cfg: HF config.json dict; weights: HF name -> tensor; lora: module path -> (A [r,in], B [out,r])."""
        self.c = cfg
        self.w = weights
        self.lora = lora or {}
        self.scale = scale
        self.H = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.kvh = cfg.get("num_key_value_heads", self.nh)
        self.d = cfg.get("head_dim") or self.H // self.nh
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        theta = cfg.get("rope_theta", 10000.0)
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, self.d, 2, dtype=torch.int64).float() / self.d))

    def rms(self, x, w):
        var = x.pow(2).mean(-1, keepdim=True)
        return w * (x * torch.rsqrt(var + self.eps))

    def linear(self, x, layer, m):
        p = module_path(layer, m)
        y = F.linear(x, self.w[p + ".weight"], self.w.get(p + ".bias"))
        if p in self.lora:
            a, b = self.lora[p]
            y = y + F.linear(F.linear(x, a), b) * self.scale
        return y

    def forward(self, ids, attention_mask=None):
        B, T = ids.shape
        x = F.embedding(ids, self.w["model.embed_tokens.weight"])
        pos = torch.arange(T).float()
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()

        def rot(t):
            t1, t2 = t[..., : self.d // 2], t[..., self.d // 2 :]
            return torch.cat((-t2, t1), dim=-1)

        mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)[None, None]
        if attention_mask is not None:
            mask = mask.masked_fill(attention_mask[:, None, None, :] == 0, torch.finfo(torch.float32).min)
        nrep = self.nh // self.kvh
        for l in range(self.c["num_hidden_layers"]):
            h = self.rms(x, self.w[f"model.layers.{l}.input_layernorm.weight"])
            q = self.linear(h, l, "q_proj").view(B, T, self.nh, self.d).transpose(1, 2)
            k = self.linear(h, l, "k_proj").view(B, T, self.kvh, self.d).transpose(1, 2)
            v = self.linear(h, l, "v_proj").view(B, T, self.kvh, self.d).transpose(1, 2)
            q = q * cos + rot(q) * sin
            k = k * cos + rot(k) * sin
            k = k[:, :, None].expand(B, self.kvh, nrep, T, self.d).reshape(B, self.nh, T, self.d)
            v = v[:, :, None].expand(B, self.kvh, nrep, T, self.d).reshape(B, self.nh, T, self.d)
            att = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.d) + mask
            att = torch.softmax(att, dim=-1, dtype=torch.float32)
            o = torch.matmul(att, v).transpose(1, 2).reshape(B, T, self.nh * self.d)
            x = x + self.linear(o, l, "o_proj")
            h = self.rms(x, self.w[f"model.layers.{l}.post_attention_layernorm.weight"])
            x = x + self.linear(F.silu(self.linear(h, l, "gate_proj")) * self.linear(h, l, "up_proj"), l, "down_proj")
        x = self.rms(x, self.w["model.norm.weight"])
        head = self.w["model.embed_tokens.weight"] if self.c.get("tie_word_embeddings") else self.w["lm_head.weight"]
        return F.linear(x, head)

    def loss(self, ids, labels, attention_mask=None):
        logits = self.forward(ids, attention_mask).float()
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)
