#!/usr/bin/env python3
"""Decode-engine speed vs a NATIVE llama.cpp, side by side in one run (issue 8).

  bench/peers/llama_bench.py [--build build] [--threads 2] [--prompt 64] [--gen 32] [--skip-qwen] [--out DIR]

1. ci/setup_peers.sh --bench builds peers/llama.cpp/build-native/bin/llama-bench (GGML_NATIVE=ON) if missing.
2. GGUFs made with OUR writer (`ironmill export-gguf`): the kjv-llama-5m fixture as F16 / Q8_0 / Q4_0, and a
   synthetic checkpoint with Qwen3-0.6B's shapes (hidden 1024, 28 layers, 16 q / 8 kv heads of 128, FFN 3072,
   vocab 151936, tied embeddings) and random fp16 weights, generated here (plain python, no numpy) as
   SafeTensors + config.json + the kjv tokenizer padded with added tokens to the vocab size; exported Q4_0 / Q8_0.
3. llama-bench (-t T, -p P, -n N, -r 3) and `mill-harness latency` (same T / P / N) on each GGUF, each under
   /usr/bin/time for peak RSS; engine_kernels_bench's read roofline (same run) for the bandwidth fraction.
Writes OUT/llama_bench.json and prints a table. Speed figures depend on machine load: the load average
is recorded next to them.
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
    out, rss = timed([exe, "-m", gguf, "-t", str(t), "-p", str(p), "-n", str(n), "-r", "3", "-o", "json"])
    rows = json.loads(out)
    res = {"peak_rss_mib": rss}
    for r in rows:
        key = "prefill_tok_s" if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0 else "decode_tok_s"
        res[key] = r["avg_ts"]
    return res


def ours(harness, gguf, t, p, n, out_dir):
    js = os.path.join(out_dir, os.path.basename(gguf) + ".latency.json")
    _, rss = timed([harness, "latency", "--model", gguf, "--prompt-tokens", str(p), "--gen-tokens", str(n),
                    "--runs", "3", "--warmup", "1", "--threads", str(t), "--json", js])
    j = json.load(open(js))
    return {"prefill_tok_s": j["prefill_tok_per_s_median"], "decode_tok_s": j["decode_tok_per_s_median"],
            "peak_rss_mib": rss}


def read_roofline(kbench):
    out = subprocess.run([kbench, "--benchmark_filter=ReadRoofline/2", "--benchmark_format=json",
                          "--benchmark_min_time=0.3"], capture_output=True, text=True, check=True).stdout
    b = json.loads(out)["benchmarks"][0]
    return b["bytes_per_second"] / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--skip-qwen", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "reports", "llama-bench"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    llama = os.path.join(ROOT, "peers", "llama.cpp", "build-native", "bin", "llama-bench")
    if not os.access(llama, os.X_OK):
        run([os.path.join(ROOT, "ci", "setup_peers.sh"), "--bench"])
    ironmill = os.path.join(a.build, "bin", "ironmill")
    harness = os.path.join(a.build, "bin", "mill-harness")
    kbench = os.path.join(a.build, "bin", "engine_kernels_bench")
    have_ours = os.access(harness, os.X_OK) and "latency" in subprocess.run(
        [harness, "latency", "--help"], capture_output=True, text=True).stdout

    models = []
    kjv_src = KJV_FIXTURE if os.path.exists(os.path.join(KJV_FIXTURE, "model.safetensors")) else KJV
    for t in ("f16", "q8_0", "q4_0"):
        models.append((f"kjv-llama-5m {t.upper()}", kjv_src, t, os.path.join(a.out, f"kjv-{t}.gguf")))
    if not a.skip_qwen:
        qdir = os.path.join(a.out, "qwen3-0.6b-shaped")
        write_qwen3_shaped(qdir)
        for t in ("q4_0", "q8_0"):
            models.append((f"Qwen3-0.6B-shaped {t.upper()}", qdir, t, os.path.join(a.out, f"qwen3-0.6b-shaped-{t}.gguf")))
    for _, src, t, gguf in models:
        if not os.path.exists(gguf):
            run([ironmill, "export-gguf", src, "-o", gguf, "--type", t, "--quiet"])

    roof = read_roofline(kbench) if os.access(kbench, os.X_OK) else None
    rows = []
    for label, _, _, gguf in models:
        size_mib = os.path.getsize(gguf) / 2**20
        r = {"model": label, "gguf": gguf, "weights_mib": size_mib, "load_avg_1m": os.getloadavg()[0]}
        r["llama_cpp"] = llama_bench(llama, gguf, a.threads, a.prompt, a.gen)
        if have_ours:
            try:
                r["ours"] = ours(harness, gguf, a.threads, a.prompt, a.gen, a.out)
            except RuntimeError as e:
                r["ours_error"] = str(e)[-500:]
        if roof:
            # decode reads every weight once per token: roofline tok/s = read bandwidth / weight bytes
            r["roofline_decode_tok_s"] = roof * 1e9 / os.path.getsize(gguf)
        rows.append(r)
    report = {"schema": "ironmill.llama-bench/1", "threads": a.threads, "prompt": a.prompt, "gen": a.gen,
              "read_roofline_gb_s": roof, "ours_available": have_ours, "llama_bench": llama,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}
    tmp = os.path.join(a.out, "llama_bench.json.tmp")
    json.dump(report, open(tmp, "w"), indent=1)
    os.replace(tmp, os.path.join(a.out, "llama_bench.json"))

    print(f"threads {a.threads}, prompt {a.prompt}, gen {a.gen}; read roofline {roof and round(roof, 2)} GB/s")
    hdr = ("model", "pp llama", "pp ours", "tg llama", "tg ours", "tg ours/llama", "tg llama/roof", "tg ours/roof",
           "RSS llama", "RSS ours", "weights MiB", "load")
    print(" | ".join(hdr))
    for r in rows:
        L, O = r["llama_cpp"], r.get("ours", {})
        roofv = r.get("roofline_decode_tok_s")
        f = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
        print(" | ".join([r["model"], f(L.get("prefill_tok_s")), f(O.get("prefill_tok_s")), f(L.get("decode_tok_s")),
                          f(O.get("decode_tok_s")),
                          f(O["decode_tok_s"] / L["decode_tok_s"], 2) if O.get("decode_tok_s") and L.get("decode_tok_s") else "-",
                          f(L["decode_tok_s"] / roofv, 2) if roofv and L.get("decode_tok_s") else "-",
                          f(O["decode_tok_s"] / roofv, 2) if roofv and O.get("decode_tok_s") else "-",
                          f(L.get("peak_rss_mib")), f(O.get("peak_rss_mib")), f(r["weights_mib"]), f(r["load_avg_1m"], 1)]))
        if "ours_error" in r:
            print("  ours failed:", r["ours_error"].splitlines()[-1] if r["ours_error"] else "")
    if not have_ours:
        print("NOTE: mill-harness latency not found in", a.build, "- only llama.cpp's figures (ours: see engine_kernels_bench)")


if __name__ == "__main__":
    main()
