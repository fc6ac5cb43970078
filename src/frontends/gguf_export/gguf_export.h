// Hugging Face checkpoint (SafeTensors directory + config.json) -> GGUF, in the layout llama.cpp loads:
// LLaMA-family (llama, mistral: GGUF arch "llama") and Qwen2 / Qwen3 (archs "qwen2" / "qwen3").
//
// What it does, following llama.cpp's convert_hf_to_gguf.py (conversion/llama.py, qwen.py, base.py):
//   - tensor names: model.embed_tokens -> token_embd, model.norm -> output_norm, lm_head -> output,
//     layers.N.{input_layernorm -> attn_norm, post_attention_layernorm -> ffn_norm,
//     self_attn.{q,k,v,o}_proj -> attn_{q,k,v,output}, self_attn.{q,k}_norm -> attn_{q,k}_norm,
//     mlp.{gate,up,down}_proj -> ffn_{gate,up,down}}; rotary inv_freq buffers are dropped; any other
//     tensor is an error naming it.
//   - arch "llama" only: q and k rows (and biases) are permuted from HF's rotate-half layout to the
//     interleaved pairs llama.cpp's rope expects (LlamaModel.permute; k with n_head_kv groups). Qwen
//     uses NEOX rope in llama.cpp, so its weights are copied as they are.
//   - hparams: {arch}.context_length, embedding_length, feed_forward_length, block_count,
//     attention.head_count(_kv), attention.layer_norm_rms_epsilon, rope.freq_base, rope.dimension_count,
//     attention.key_length/value_length (explicit head_dim), vocab_size; linear / yarn rope scaling
//     keys; llama3 rope scaling as the rope_freqs.weight tensor; general.file_type and
//     general.quantization_version.
//   - types: 1-D tensors (norms, biases) stay F32, as the official converter stores them; 2-D tensors
//     get the requested type. A quantized type whose block does not divide the row length falls back
//     like llama-quantize's tensor_type_fallback: Q6_K -> Q8_0, 32-block types -> F16; Q4_K -> Q4_0
//     (llama-quantize picks Q5_0, which we do not quantize). The result lists each tensor's type.
//   - tied embeddings: no output.weight (llama.cpp reuses token_embd).
//   - tokenizer metadata (tokenizer.ggml.*) comes from a VocabWriter (see below); the output is written
//     atomically (temporary sibling + rename).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "formats/gguf/ggml_types.h"
#include "formats/gguf/gguf.h"
#include "formats/hf/model_config.h"
#include "util/status.h"

namespace ironmill::frontends::gguf_export {

// Adds tokenizer.ggml.* keys for the model directory's tokenizer to `writer`.
using VocabWriter = std::function<Status(const std::filesystem::path& model_dir, formats::gguf::Writer& writer)>;

// tokenizer.json -> GGUF metadata (formats/tokenizer/gguf_vocab.h, write_gguf_vocab) for directories
// holding a tokenizer.json; directories without one export with no tokenizer (llama.cpp cannot load
// such a file unless the caller supplies a VocabWriter).  
VocabWriter default_vocab_writer();

struct ExportOptions {
  // Type of the 2-D weights: F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K.
  formats::gguf::GgmlType type = formats::gguf::GgmlType::kF16;
  // Called once; skipped when empty.
  VocabWriter vocab = default_vocab_writer();
  // general.name; the directory's name when empty.
  std::string name;
};

struct ExportedTensor {
  std::string hf_name;    // empty for generated tensors (rope_freqs)
  std::string gguf_name;
  formats::gguf::GgmlType type;
  std::vector<int64_t> ne;  // ggml order
  bool permuted = false;
};

struct ExportResult {
  std::string arch;
  std::vector<ExportedTensor> tensors;  // in file order
  bool has_vocab = false;
  uint64_t file_bytes = 0;
  std::vector<std::string> warnings;  // things llama.cpp will not honour (e.g. Mistral's sliding window)
};

// Output types offered by --type, by their ggml names ("f16", "q8_0", ...).
Result<formats::gguf::GgmlType> parse_output_type(std::string_view name);
// llama.cpp's GGUF architecture for a config ("llama", "qwen2", "qwen3"); error for other families.
Result<std::string> gguf_arch(const formats::hf::ModelConfig& config);
// The GGUF name of an HF tensor; empty string for tensors that are dropped (rotary inv_freq); error
// for names this exporter does not know.
Result<std::string> gguf_tensor_name(std::string_view hf_name);
// The inverse: the HF name of a GGUF tensor this exporter writes ("blk.3.attn_q.weight" ->
// "model.layers.3.self_attn.q_proj.weight"); error for other names (rope_freqs included).
Result<std::string> hf_tensor_name(std::string_view gguf_name);
// The type a 2-D tensor with rows of ne0 elements gets when `requested` is asked for.
formats::gguf::GgmlType fallback_type(formats::gguf::GgmlType requested, int64_t ne0);
// LlamaModel.permute on the rows of a [rows, cols] row-major matrix of `elem_bytes`-sized elements,
// rows = n_head * head_dim: row h*hd + j*(hd/2) + i moves to h*hd + 2*i + j.
Status permute_rows(const uint8_t* src, uint8_t* dst, int64_t rows, int64_t cols, size_t elem_bytes, int64_t n_head);

// Builds the writer (metadata + tensors), without writing it.
Result<formats::gguf::Writer> build_gguf(const std::filesystem::path& model_dir, const ExportOptions& options,
                                         ExportResult* result = nullptr);
// build_gguf + an atomic write to `out_path`.
Result<ExportResult> export_gguf(const std::filesystem::path& model_dir, const std::string& out_path,
                                 const ExportOptions& options = {});

}  // namespace ironmill::frontends::gguf_export
