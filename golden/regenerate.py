#!/usr/bin/env python3
"""Recomputes the golden outputs in golden/<case>/ from each case's own weights with Hugging Face
transformers (needs torch and transformers 5.17; fp32, CPU, eager attention, as the fixtures were made).

  python3 golden/regenerate.py [--check] [--cases llama,qwen3,...] [--out DIR]

Without --check it writes golden.safetensors (and, for kjv-llama-5m, the figures in golden.json) under
--out (default: the case directories themselves). With --check it recomputes and compares with the
committed files instead, printing the largest deviation per tensor, and exits 1 on a mismatch
(ids must be equal; float tensors within 1e-4 relative to their max |value|).

The input ids are taken from the committed golden.json (they were drawn at random by the fixture
generator); everything else is recomputed. Every hf-tiny case also gets perplexity figures over a seeded
random stream of 320 token ids (ppl_token_ids; drawn once, then read back): ppl_chunked_128 =
[ppl, scored, chunks] (llama-perplexity's protocol) and ppl_sliding_128_64 = [ppl, scored] (Hugging Face's).
"""
import argparse
import json
import math
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
HF_TINY = ["llama", "llama-tied-gqa1", "mistral-sw", "qwen2", "qwen3", "qwen3_5", "gemma2", "gemma3", "gemma4",
           "deepseek_v3", "deepseek_v3-routing", "deepseek_v3-yarn"]


def load(case_dir, weight_dtype="float32"):
    model = AutoModelForCausalLM.from_pretrained(case_dir, dtype=torch.float32, attn_implementation="eager")
    if weight_dtype != "float32":
        # The fixtures were evaluated as model.to(dtype).to(float32): that also rounds the buffers the
        # checkpoint does not store (the rotary inv_freq), which matters at long positions.
        model = model.to(getattr(torch, weight_dtype)).to(torch.float32)
    return model.eval()


def checkpoint_dtype(case_dir, meta):
    """The dtype the case's weights were rounded to: golden.json's weight_dtype, else config.json's dtype."""
    if "weight_dtype" in meta:
        return meta["weight_dtype"]
    with open(os.path.join(case_dir, "config.json")) as f:
        cfg = json.load(f)
    return cfg.get("dtype") or cfg.get("torch_dtype") or "float32"


@torch.no_grad()
def forward(model, ids, hidden=False):
    out = model(torch.tensor([ids]), use_cache=False, output_hidden_states=hidden)
    return out


@torch.no_grad()
def greedy_without_cache(model, ids, n):
    """Each new token from a cache-free forward pass over the whole sequence so far."""
    seq, chosen, logits = list(ids), [], []
    for _ in range(n):
        last = forward(model, seq).logits[0, -1]
        tok = int(torch.argmax(last))
        chosen.append(tok)
        logits.append(last)
        seq.append(tok)
    return chosen, torch.stack(logits)


def hf_tiny_case(case_dir, meta):
    model = load(case_dir, checkpoint_dtype(case_dir, meta))
    ids = meta["input_ids"]
    out = forward(model, ids, hidden=True)
    generated, decode_logits = greedy_without_cache(model, ids, meta.get("new_tokens", 8))
    full = forward(model, ids + generated).logits[0]
    return {
        "input_ids": torch.tensor(ids, dtype=torch.int32),
        "prefill_logits": out.logits[0].float().contiguous(),
        "hidden_states": torch.stack([h[0] for h in out.hidden_states]).float().contiguous(),
        "generated_ids": torch.tensor(generated, dtype=torch.int32),
        "decode_logits": decode_logits.float().contiguous(),
        "full_logits": full.float().contiguous(),
    }, perplexity_figures(model, meta)


PPL_TOKENS = 320  # 2 chunks of 128; 4 sliding windows of 128 every 64


@torch.no_grad()
def perplexity_figures(model, meta):
    """Perplexity of a fixed random token stream under both protocols, so every architecture's perplexity
    path is checked (kjv-llama-5m is the only case with a text). The ids are drawn once (seeded) and then
    read back from golden.json, like input_ids."""
    ids = meta.get("ppl_token_ids")
    if ids is None:
        vocab = model.config.get_text_config().vocab_size
        g = torch.Generator().manual_seed(20261202)
        ids = torch.randint(0, vocab, (PPL_TOKENS,), generator=g).tolist()
    t = torch.tensor(ids)
    return {"ppl_token_ids": ids, "ppl_chunked_128": chunked_ppl(model, t, 128),
            "ppl_sliding_128_64": sliding_ppl(model, t, 128, 64)}


@torch.no_grad()
def nll_sum(logits, targets):
    lp = torch.log_softmax(logits.double(), dim=-1)
    return float(-lp.gather(1, targets[:, None]).sum()), int(targets.numel())


@torch.no_grad()
def chunked_ppl(model, test, ctx):
    """llama-perplexity: chunks of ctx tokens from an empty cache, score the second half of each."""
    total, count, n = 0.0, 0, test.numel()
    for c in range(n // ctx):
        chunk = test[c * ctx:(c + 1) * ctx]
        lg = forward(model, chunk.tolist()).logits[0]
        s, k = nll_sum(lg[ctx // 2:ctx - 1], chunk[ctx // 2 + 1:ctx])
        total, count = total + s, count + k
    return [math.exp(total / count), count, n // ctx]


@torch.no_grad()
def sliding_ppl(model, test, width, stride):
    """Hugging Face's sliding window: each window scores only the tokens the previous one did not."""
    total, count, prev_end, n = 0.0, 0, 0, test.numel()
    for begin in range(0, n, stride):
        end = min(begin + width, n)
        trg = end - prev_end
        window = test[begin:end]
        lg = forward(model, window.tolist()).logits[0]
        first = max(1, window.numel() - trg)
        s, k = nll_sum(lg[first - 1:-1], window[first:])
        total, count, prev_end = total + s, count + k, end
        if end == n:
            break
    return [math.exp(total / count), count]


@torch.no_grad()
def kjv_case(case_dir, meta):
    model = load(case_dir, checkpoint_dtype(case_dir, meta))
    tok = AutoTokenizer.from_pretrained(case_dir)
    ids = tok(meta["prompt"], add_special_tokens=False)["input_ids"]
    prompt_logits = forward(model, ids).logits[0]
    # kjv's decode_logits are generate()'s (with transformers' KV cache), as the fixture was made.
    g = model.generate(input_ids=torch.tensor([ids]), max_new_tokens=len(meta["greedy_ids"]), do_sample=False,
                       output_logits=True, return_dict_in_generate=True, pad_token_id=0, eos_token_id=None)
    greedy = g.sequences[0, len(ids):].tolist()
    decode_logits = torch.stack([step[0] for step in g.logits])
    with open(os.path.join(case_dir, "kjv-test.txt"), encoding="utf-8") as f:
        test = torch.tensor(tok(f.read(), add_special_tokens=False)["input_ids"])
    n = test.numel()
    chunked = chunked_ppl(model, test, 256)
    sliding = sliding_ppl(model, test, 512, 256)
    tensors = {"prompt_logits": prompt_logits.float().contiguous(), "decode_logits": decode_logits.float().contiguous()}
    figures = {"prompt_ids": ids, "greedy_ids": greedy, "test_tokens": n, "ppl_kjv_test_chunked_ctx256": chunked,
               "ppl_kjv_test_sliding_512_256": sliding}
    return tensors, figures


def compare(name, ours, committed, ok):
    for key, ref in committed.items():
        if key not in ours:
            print(f"  {name}: {key} not recomputed")
            continue
        a, b = ours[key], ref
        if a.dtype in (torch.int32, torch.int64):
            same = a.shape == b.shape and bool((a.long() == b.long()).all())
            print(f"  {name}: {key} {'equal' if same else 'DIFFERENT'}")
            ok = ok and same
        else:
            d = float((a.float() - b.float()).abs().max()) if a.shape == b.shape else float("inf")
            m = float(b.float().abs().max())
            good = d <= 1e-4 * m
            print(f"  {name}: {key} max |d| {d:.3e} (max |ref| {m:.3e}) {'ok' if good else 'MISMATCH'}")
            ok = ok and good
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--cases", default=",".join(HF_TINY + ["kjv-llama-5m"]))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    ok = True
    for name in args.cases.split(","):
        case_dir = os.path.join(HERE, name)
        with open(os.path.join(case_dir, "golden.json")) as f:
            meta = json.load(f)
        tensors, figures = (kjv_case if name == "kjv-llama-5m" else hf_tiny_case)(case_dir, meta)
        if args.check:
            ok = compare(name, tensors, load_file(os.path.join(case_dir, "golden.safetensors")), ok)
            for key, value in figures.items():
                ref = meta.get(key)
                if ref is None:
                    print(f"  {name}: {key} is not in the committed golden.json MISMATCH")
                    ok = False
                    continue
                if isinstance(value, list) and value and isinstance(value[0], float):
                    good = abs(value[0] - ref[0]) <= 1e-4 * abs(ref[0]) and value[1:] == ref[1:]
                else:
                    good = value == ref
                shown = f"{len(value)} ids" if key == "ppl_token_ids" else f"{value} vs {ref}"
                print(f"  {name}: {key} {shown} {'ok' if good else 'MISMATCH'}")
                ok = ok and good
            continue
        out_dir = os.path.join(args.out, name) if args.out else case_dir
        os.makedirs(out_dir, exist_ok=True)
        tmp = os.path.join(out_dir, "golden.safetensors.tmp")
        save_file(tensors, tmp)
        os.replace(tmp, os.path.join(out_dir, "golden.safetensors"))
        if figures:
            meta.update(figures)
            tmp = os.path.join(out_dir, "golden.json.tmp")
            with open(tmp, "w") as f:
                json.dump(meta, f, indent=1)
            os.replace(tmp, os.path.join(out_dir, "golden.json"))
        print(f"wrote {out_dir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
