#!/usr/bin/env python3
# Row order of kjv-llama-5m's q_proj / k_proj after llama.cpp's HF->GGUF q/k permutation, computed with
# NumPy using the reshape/swapaxes expression of llama.cpp's conversion/llama.py LlamaModel.permute
# (k uses num_key_value_heads). Entry i is the source (HF) row that lands in GGUF row i.
# Run: python3 make_gguf_qk_permutation.py > gguf_qk_permutation.json
import json
import numpy as np

cfg = json.load(open(__file__.rsplit("/", 1)[0] + "/config.json" if "/" in __file__ else "config.json"))
n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
head_dim = cfg.get("head_dim", cfg["hidden_size"] // n_head)


def permute(w, n):
    return w.reshape(n, 2, w.shape[0] // n // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


q = permute(np.arange(n_head * head_dim).reshape(-1, 1), n_head)[:, 0]
k = permute(np.arange(n_kv * head_dim).reshape(-1, 1), n_kv)[:, 0]
print(json.dumps({"numpy": np.__version__, "q_rows": q.tolist(), "k_rows": k.tolist()}))
