#!/usr/bin/env python3
"""Decode-engine speed vs a NATIVE llama.cpp, side by side in one run (issue 8).

  bench/peers/llama_bench.py [--build build] [--threads 2] [--prompt 64] [--gen 32] [--rounds 3] [--skip-qwen]
                             [--only SUBSTR] [--out DIR]

1. ci/setup_peers.sh --bench builds peers/llama.cpp/build-native/bin/llama-bench (GGML_NATIVE=ON) if missing.
2. GGUFs made with OUR writer (`ironmill export-gguf`): the kjv-llama-5m fixture as F16 / Q8_0 / Q4_0, and a
   synthetic checkpoint with Qwen3-0.6B's shapes (hidden 1024, 28 layers, 16 q / 8 kv heads of 128, FFN 3072,
   vocab 151936, tied embeddings) and random fp16 weights, generated here (plain python, no numpy) as
   SafeTensors + config.json + the kjv tokenizer padded with added tokens to the vocab size; exported F16 /
   Q8_0 / Q4_0.
3. Per model, --rounds alternating rounds of llama-bench and `mill-harness latency` with the same threads,
   prompt P and generation N, each under /usr/bin/time for peak RSS:
     prefill: llama-bench -p P -n 0           vs  our prefill of P tokens into an empty cache
     decode:  llama-bench -p 0 -n N -d P      vs  our N greedy decode steps after that P-token prefill
   (-d puts llama.cpp's generation at the same depth as ours). Each side's figure is the median over rounds
   of its mean tok/s per run. Roofline: engine_kernels_bench's CopyRoofline/T bandwidth (bytes read + written
   per second, measured in the same run) over the bytes one decode step must read (weight bytes + our KV
   cache at the mean depth). Peak RSS is compared with weights + our KV cache.
Writes OUT/llama_bench.json and OUT/llama_bench.md and prints the table. Speed depends on machine load: the
1-minute load average is recorded with each row.
"""
import argparse, json, os, random, struct, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KJV = os.path.join(ROOT, "golden", "kjv-llama-5m")
KJV_FIXTURE = "/work/shared/fixtures/kjv-llama-5m"

QWEN3_06B = {
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072,
    "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
    "vocab_size": 151936, "max_position_embeddings": 40960, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
    "tie_word_embeddings": True, "hidden_act": "silu", "attention_bias": False, "torch_dtype": "float16",
    "bos_token_id": 0, "eos_token_id": 0,
}


def run(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def timed(cmd):
    """Runs cmd under /usr/bin/time -v; returns (stdout, peak RSS MiB)."""
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    rss = 0.0
    for line in p.stderr.splitlines():
        if "Maximum resident set size" in line:
            rss = int(line.split(":")[1]) / 1024.0
    return p.stdout, rss


def fp16_random(n, rng_bytes):
    """n fp16 values with random sign/mantissa and exponent 10 or 11 (|w| in [2^-5, 2^-3)): plausible weights."""
    b = bytearray(rng_bytes(2 * n))
    table = bytes(((x & 0x87) | 0x28) for x in range(256))
    b[1::2] = bytes(b[1::2]).translate(table)
    return bytes(b)


def write_qwen3_shaped(dirpath):
    if os.path.exists(os.path.join(dirpath, "model.safetensors")):
        return
    os.makedirs(dirpath, exist_ok=True)
    c = QWEN3_06B
    h, f, L, hd, nq, nkv, V = (c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["head_dim"],
                              c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"])
    shapes = [("model.embed_tokens.weight", [V, h]), ("model.norm.weight", [h])]
    for i in range(L):
        p = f"model.layers.{i}."
        shapes += [(p + "input_layernorm.weight", [h]), (p + "post_attention_layernorm.weight", [h]),
                   (p + "self_attn.q_proj.weight", [nq * hd, h]), (p + "self_attn.k_proj.weight", [nkv * hd, h]),
                   (p + "self_attn.v_proj.weight", [nkv * hd, h]), (p + "self_attn.o_proj.weight", [h, nq * hd]),
                   (p + "self_attn.q_norm.weight", [hd]), (p + "self_attn.k_norm.weight", [hd]),
                   (p + "mlp.gate_proj.weight", [f, h]), (p + "mlp.up_proj.weight", [f, h]),
                   (p + "mlp.down_proj.weight", [h, f])]
    header, off = {}, 0
    for name, shape in shapes:
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [off, off + 2 * n]}
        off += 2 * n
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    rng = random.Random(0)
    rng_bytes = lambda k: b"".join(rng.randbytes(min(1 << 22, k - i)) for i in range(0, k, 1 << 22))
    tmp = os.path.join(dirpath, "model.safetensors.tmp")
    with open(tmp, "wb") as out:
        out.write(struct.pack("<Q", len(hj)))
        out.write(hj)
        for name, shape in shapes:
            n = 1
            for d in shape:
                n *= d
            out.write(b"\x00\x3c" * n if len(shape) == 1 else fp16_random(n, rng_bytes))  # norms = 1.0
    os.replace(tmp, os.path.join(dirpath, "model.safetensors"))
    with open(os.path.join(dirpath, "config.json"), "w") as fp:
        json.dump(c, fp, indent=1)
    # The kjv byte-level BPE tokenizer, padded with added tokens up to the vocab size.
    tok = json.load(open(os.path.join(KJV_FIXTURE, "tokenizer.json")))
    base = len(tok["model"]["vocab"])
    for i in range(base, V):
        tok["added_tokens"].append({"id": i, "content": f"<|pad_{i}|>", "single_word": False, "lstrip": False,
                                    "rstrip": False, "normalized": False, "special": True})
    json.dump(tok, open(os.path.join(dirpath, "tokenizer.json"), "w"))
    for extra in ("tokenizer_config.json",):
        src = os.path.join(KJV_FIXTURE, extra)
        if os.path.exists(src):
            open(os.path.join(dirpath, extra), "w").write(open(src).read())


def llama_bench(exe, gguf, t, p, n):
    """Two llama-bench runs: pp P from an empty context, tg N at depth P. Returns tok/s and peak RSS."""
    res = {"peak_rss_mib": 0.0}
    for key, args in (("prefill_tok_s", ["-p", str(p), "-n", "0"]),
                      ("decode_tok_s", ["-p", "0", "-n", str(n), "-d", str(p)])):
        out, rss = timed([exe, "-m", gguf, "-t", str(t), "-r", "3", "-o", "json"] + args)
        rows = json.loads(out)
        res[key] = rows[0]["avg_ts"]
        res["peak_rss_mib"] = max(res["peak_rss_mib"], rss)
    return res


def ours(harness, gguf, t, p, n, out_dir):
    js = os.path.join(out_dir, os.path.basename(gguf) + ".latency.json")
    _, rss = timed([harness, "latency", "--model", gguf, "--prompt-tokens", str(p), "--gen-tokens", str(n),
                    "--runs", "3", "--warmup", "1", "--threads", str(t), "--json", js])
    j = json.load(open(js))
    per_run = sorted(j["decode_tok_per_s_per_run"])
    return {"prefill_tok_s": j["prefill_tok_per_s_median"], "decode_tok_s": per_run[len(per_run) // 2],
            "decode_ms_per_token_median": j["decode_ms_per_token"]["median"], "peak_rss_mib": rss}


def bandwidth(kbench, name):
    out = subprocess.run([kbench, f"--benchmark_filter=^{name}$", "--benchmark_format=json",
                          "--benchmark_min_time=0.5"], capture_output=True, text=True, check=True).stdout
    b = json.loads(out)["benchmarks"]
    return b[0]["bytes_per_second"] / 1e9 if b else None


def kv_shape(src_dir):
    """(layers, kv heads, head dim) from the source checkpoint's config.json, to size our KV cache."""
    with open(os.path.join(src_dir, "config.json")) as fp:
        c = json.load(fp)
    heads = c["num_attention_heads"]
    return c["num_hidden_layers"], c.get("num_key_value_heads") or heads, c.get("head_dim") or c["hidden_size"] // heads


def median(v):
    v = sorted(x for x in v if x is not None)
    return v[len(v) // 2] if v else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-qwen", action="store_true")
    ap.add_argument("--only", default="", help="run only the models whose label contains this")
    ap.add_argument("--out", default=os.path.join(ROOT, "reports", "llama-bench"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    llama = os.path.join(ROOT, "peers", "llama.cpp", "build-native", "bin", "llama-bench")
    if not os.access(llama, os.X_OK):
        run([os.path.join(ROOT, "ci", "setup_peers.sh"), "--bench"])
    ironmill = os.path.join(a.build, "bin", "ironmill")
    harness = os.path.join(a.build, "bin", "mill-harness")
    kbench = os.path.join(a.build, "bin", "engine_kernels_bench")

    models = []
    kjv_src = KJV_FIXTURE if os.path.exists(os.path.join(KJV_FIXTURE, "model.safetensors")) else KJV
    for t in ("f16", "q8_0", "q4_0"):
        models.append((f"kjv-llama-5m {t.upper()}", kjv_src, t, os.path.join(a.out, f"kjv-{t}.gguf")))
    if not a.skip_qwen:
        qdir = os.path.join(a.out, "qwen3-0.6b-shaped")
        write_qwen3_shaped(qdir)
        for t in ("f16", "q8_0", "q4_0"):
            models.append((f"Qwen3-0.6B-shaped {t.upper()}", qdir, t, os.path.join(a.out, f"qwen3-0.6b-shaped-{t}.gguf")))
    models = [m for m in models if a.only in m[0]]
    for _, src, t, gguf in models:
        if not os.path.exists(gguf):
            run([ironmill, "export-gguf", src, "-o", gguf, "--type", t, "--quiet"])

    copy_bw = bandwidth(kbench, f"BM_CopyRoofline/{a.threads}/real_time")
    read_bw = bandwidth(kbench, f"BM_ReadRoofline/{a.threads}/real_time")
    rows = []
    for label, src, _, gguf in models:
        weights = os.path.getsize(gguf)
        L, kvh, hd = kv_shape(src)
        per_position = L * kvh * 2 * hd * 4  # our KV cache: fp32 K and V, sized for prompt + gen at open
        cache = per_position * (a.prompt + a.gen)
        mean_depth_cache = per_position * (a.prompt + a.gen / 2)
        r = {"model": label, "gguf": gguf, "weights_mib": weights / 2**20, "kv_cache_mib": cache / 2**20,
             "load_avg_1m": [], "rounds": []}
        for _ in range(a.rounds):
            r["load_avg_1m"].append(round(os.getloadavg()[0], 2))
            one = {"llama_cpp": llama_bench(llama, gguf, a.threads, a.prompt, a.gen)}
            one["ours"] = ours(harness, gguf, a.threads, a.prompt, a.gen, a.out)
            r["rounds"].append(one)
        for side in ("llama_cpp", "ours"):
            r[side] = {k: median([x[side].get(k) for x in r["rounds"]])
                       for k in ("prefill_tok_s", "decode_tok_s", "peak_rss_mib")}
        r["decode_ratio"] = r["ours"]["decode_tok_s"] / r["llama_cpp"]["decode_tok_s"]
        r["prefill_ratio"] = r["ours"]["prefill_tok_s"] / r["llama_cpp"]["prefill_tok_s"]
        r["rss_over_weights_plus_cache"] = r["ours"]["peak_rss_mib"] * 2**20 / (weights + cache)
        if copy_bw:
            roof = copy_bw * 1e9 / (weights + mean_depth_cache)
            r["roofline_decode_tok_s"] = roof
            r["ours_roofline_fraction"] = r["ours"]["decode_tok_s"] / roof
            r["llama_cpp_roofline_fraction"] = r["llama_cpp"]["decode_tok_s"] / roof
        rows.append(r)
        print(f"{label}: decode ours {r['ours']['decode_tok_s']:.1f} / llama.cpp {r['llama_cpp']['decode_tok_s']:.1f} "
              f"tok/s = {r['decode_ratio']:.2f}x", file=sys.stderr)

    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    report = {"schema": "ironmill.llama-bench/2", "threads": a.threads, "prompt": a.prompt, "gen": a.gen,
              "rounds": a.rounds, "copy_bandwidth_gb_s": copy_bw, "read_bandwidth_gb_s": read_bw,
              "cpu": cpu, "nproc": os.cpu_count(), "llama_bench": llama,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}
    tmp = os.path.join(a.out, "llama_bench.json.tmp")
    json.dump(report, open(tmp, "w"), indent=1)
    os.replace(tmp, os.path.join(a.out, "llama_bench.json"))

    f = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
    lines = [f"threads {a.threads}, prompt {a.prompt}, gen {a.gen} (decode at depth {a.prompt}), {a.rounds} rounds; "
             f"{cpu} x{os.cpu_count()}; copy bandwidth {f(copy_bw, 2)} GB/s, read {f(read_bw, 2)} GB/s", "",
             "| model | pp llama.cpp | pp ours | pp ours/llama | tg llama.cpp | tg ours | tg ours/llama | "
             "tg llama/roof | tg ours/roof | RSS llama MiB | RSS ours MiB | weights+cache MiB | ours RSS/(w+c) | load |",
             "|" + "---|" * 14]
    for r in rows:
        Lc, O = r["llama_cpp"], r["ours"]
        lines.append("| " + " | ".join([
            r["model"], f(Lc["prefill_tok_s"]), f(O["prefill_tok_s"]), f(r["prefill_ratio"], 2),
            f(Lc["decode_tok_s"]), f(O["decode_tok_s"]), f(r["decode_ratio"], 2),
            f(r.get("llama_cpp_roofline_fraction"), 2), f(r.get("ours_roofline_fraction"), 2),
            f(Lc["peak_rss_mib"]), f(O["peak_rss_mib"]), f(r["weights_mib"] + r["kv_cache_mib"]),
            f(r["rss_over_weights_plus_cache"], 2), "/".join(f(x, 1) for x in r["load_avg_1m"])]) + " |")
    text = "\n".join(lines) + "\n"
    tmp = os.path.join(a.out, "llama_bench.md.tmp")
    open(tmp, "w").write(text)
    os.replace(tmp, os.path.join(a.out, "llama_bench.md"))
    print(text)


if __name__ == "__main__":
    main()
