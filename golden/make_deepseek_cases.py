#!/usr/bin/env python3
"""Makes golden DeepSeek V3 cases that exercise what the hf-tiny deepseek_v3 case does not (its correction bias
is all zeros, one expert group, q_lora_rank set, norm_topk_prob true, default rope):
  deepseek_v3-routing: group-limited routing (8 experts in 4 groups, the best 2 groups kept, top-3), a non-zero
    e_score_correction_bias (selection differs from the unbiased scores), norm_topk_prob false, queries through
    q_proj (q_lora_rank null);
  deepseek_v3-yarn: yarn rope (factor 4 over 64 original positions; mscale 2 and mscale_all_dim 1, so both the
    cos/sin attention factor (1.12) and the softmax scale's mscale^2 (1.30) are not 1, where DeepSeek V3's own
    mscale = mscale_all_dim = 1 leave only the latter) with an 80-token prompt, past the original context.
Run where torch + transformers 5.17 exist:

  python3 golden/make_deepseek_cases.py OUTDIR [NAME...]

The steps follow shared/fixtures/generators/make_goldens.py (seeded random init, a 0.05 perturbation of
every parameter, fp32, eager attention, cache-free greedy decoding); the bias is a buffer, which that
perturbation does not touch, so it is drawn here.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM

BASE = dict(vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
          num_key_value_heads=4, max_position_embeddings=256, rms_norm_eps=1e-6, initializer_range=0.1,
          tie_word_embeddings=False, head_dim=8, kv_lora_rank=32, q_lora_rank=None, qk_rope_head_dim=8,
          qk_nope_head_dim=16, v_head_dim=16, n_routed_experts=8, num_experts_per_tok=3, n_shared_experts=2,
          moe_intermediate_size=32, first_k_dense_replace=1, n_group=4, topk_group=2, norm_topk_prob=False,
          routed_scaling_factor=1.5)
YARN = dict(BASE, q_lora_rank=48, num_hidden_layers=2, n_routed_experts=4, num_experts_per_tok=2, n_group=1,
            topk_group=1, n_shared_experts=1, norm_topk_prob=True, routed_scaling_factor=2.5,
            rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                             "original_max_position_embeddings": 64, "beta_fast": 32.0, "beta_slow": 1.0,
                             "mscale": 2.0, "mscale_all_dim": 1.0})
# name: (config, seed, prompt length, new tokens)
CASES = {"deepseek_v3-routing": (BASE, 4321, 12, 8), "deepseek_v3-yarn": (YARN, 4322, 80, 8)}


def make(root, NAME, KW, SEED, T, NEW):
    out = os.path.join(root, NAME)
    torch.manual_seed(SEED)
    cfg = AutoConfig.for_model("deepseek_v3", **KW)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, attn_implementation="eager")
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(0.15 * torch.randn(b.shape, generator=g, dtype=b.dtype))
    model.eval()
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    ids = torch.randint(0, cfg.vocab_size, (1, T), generator=torch.Generator().manual_seed(SEED + 7))
    with torch.no_grad():
        o = model(input_ids=ids, output_hidden_states=True, use_cache=False)
        prefill = o.logits[0].float().contiguous()
        hidden = torch.stack([h[0] for h in o.hidden_states]).float().contiguous()
        seq, steps = ids.clone(), []
        for _ in range(NEW):
            lg = model(input_ids=seq, use_cache=False).logits[0, -1].float()
            steps.append(lg)
            seq = torch.cat([seq, lg.argmax().view(1, 1)], dim=1)
        gen = seq[0, T:].tolist()
        step_logits = torch.stack(steps).contiguous()
        full = model(input_ids=seq, use_cache=False).logits[0].float().contiguous()
        # A diagnostic that the case tests the bias: prompt tokens whose plain top-k (no groups) on biased scores
        # differs from the top-k on the raw scores, at the MoE inputs of the prefill.
        changed, total = 0, 0
        for l in range(KW["first_k_dense_replace"], KW["num_hidden_layers"]):
            mlp = model.model.layers[l].mlp
            x = model.model.layers[l].post_attention_layernorm(o.hidden_states[l][0])
            s = torch.sigmoid(x @ mlp.gate.weight.T)
            a = torch.topk(s + mlp.gate.e_score_correction_bias, KW["num_experts_per_tok"], dim=-1)[1].sort(-1)[0]
            b = torch.topk(s, KW["num_experts_per_tok"], dim=-1)[1].sort(-1)[0]
            changed += int((a != b).any(-1).sum())
            total += a.shape[0]
    save_file({"input_ids": ids[0].to(torch.int32).contiguous(), "prefill_logits": prefill, "hidden_states": hidden,
               "decode_logits": step_logits, "generated_ids": torch.tensor(gen, dtype=torch.int32),
               "full_logits": full}, os.path.join(out, "golden.safetensors"))
    meta = {"name": NAME, "model_type": "deepseek_v3", "transformers": transformers.__version__,
            "torch": torch.__version__, "seed": SEED, "weight_dtype": "float32", "prompt_len": T, "new_tokens": NEW,
            "input_ids": ids[0].tolist(), "generated_ids": gen, "attn_implementation": "eager",
            "bias_changes_plain_topk": [changed, total],
            "tensors": {"prefill_logits": list(prefill.shape), "hidden_states": list(hidden.shape),
                        "decode_logits": list(step_logits.shape), "full_logits": list(full.shape)},
            "params": sum(p.numel() for p in model.parameters())}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


def main():
    names = sys.argv[2:] or list(CASES)
    for name in names:
        make(sys.argv[1], name, *CASES[name])


if __name__ == "__main__":
    main()
