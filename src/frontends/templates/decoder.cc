// The decoder-only template shared by every supported family. Family differences are data (Traits);
// the few structurally different layers (gated delta net, multi-latent attention, MoE, per-layer
// embeddings) live in their own functions below.
#include <cmath>

#include "frontends/templates/graph.h"
#include "frontends/templates/layers.h"
#include "frontends/templates/template.h"
#include "mil/verifier.h"

namespace ironmill::templates {

using formats::hf::LayerType;
using formats::hf::ModelConfig;
using formats::hf::ModelFamily;
using mil::DType;
using mil::Shape;
using mil::Tensor;

Traits traits_for(const ModelConfig& c) {
  Traits t;
  const bool gemma = c.family == ModelFamily::kGemma || c.family == ModelFamily::kGemma2 ||
                     c.family == ModelFamily::kGemma3 || c.family == ModelFamily::kGemma4;
  t.gemma = gemma;
  t.norm = gemma && c.family != ModelFamily::kGemma4 ? NormStyle::kOnePlusWeight : NormStyle::kWeight;
  if (c.family == ModelFamily::kQwen3_5) t.norm = NormStyle::kOnePlusWeight;
  t.qk_norm = c.family == ModelFamily::kQwen3 || c.family == ModelFamily::kQwen3_5 ||
              c.family == ModelFamily::kGemma3 || c.family == ModelFamily::kGemma4;
  t.sandwich_norms = c.family == ModelFamily::kGemma2 || c.family == ModelFamily::kGemma3 ||
                     c.family == ModelFamily::kGemma4;
  t.embed_scale = gemma;
  t.gelu_mlp = gemma || c.hidden_act == "gelu_pytorch_tanh";
  t.v_norm = c.family == ModelFamily::kGemma4;
  return t;
}

Status check_supported(const ModelConfig& c) {
  const std::string who = c.source + ": ";
  if (c.family == ModelFamily::kGemma) return unsupported(who + "model_type `gemma` (Gemma 1) has no template yet");
  if (c.hidden_act != "silu" && c.hidden_act != "gelu_pytorch_tanh" && c.hidden_act != "gelu_tanh")
    return unsupported(who + "`hidden_act` = `" + c.hidden_act + "` is not supported (silu, gelu_pytorch_tanh)");
  for (size_t l = 0; l < c.layers.size(); ++l) {
    const auto& r = c.layers[l].rope;
    // yarn passes for DeepSeek MLA layers: the decode engine computes it; the MLA template rejects it when built.
    if (r.type != "default" && r.type != "proportional" && !(r.type == "yarn" && c.mla))
      return unsupported(who + "rope type `" + r.type + "` (layer " + std::to_string(l) + ") is not supported");
  }
  if (c.moe && c.family != ModelFamily::kDeepseekV3)
    return unsupported(who + "mixture-of-experts MLPs are only supported for deepseek_v3");
  if (c.moe && (c.moe->scoring_func != "sigmoid" || c.moe->topk_method != "noaux_tc"))
    return unsupported(who + "MoE `scoring_func`/`topk_method` other than sigmoid/noaux_tc");
  if (c.attention_k_eq_v) return unsupported(who + "`attention_k_eq_v` = true is not supported");
  if (c.use_double_wide_mlp && c.num_kv_shared_layers > 0)
    return unsupported(who + "`use_double_wide_mlp` = true is not supported");
  return Status::Ok();
}

RopeSpec rope_spec(const ModelConfig& c, const formats::hf::LayerConfig& layer, int64_t head_dim,
                   mil::DType rope_freq_dtype) {
  RopeSpec s;
  s.head_dim = head_dim;
  s.theta = layer.rope.theta;
  const double f = layer.rope.partial_rotary_factor;
  if (layer.rope.type == "proportional") {
    s.rotary_dim = s.freq_dim = head_dim;
    s.active_pairs = static_cast<int64_t>(f * static_cast<double>(head_dim)) / 2;
  } else {
    s.rotary_dim = static_cast<int64_t>(static_cast<double>(head_dim) * f);
    s.rotary_dim -= s.rotary_dim % 2;
    s.freq_dim = s.rotary_dim;
    s.active_pairs = s.rotary_dim / 2;
  }
  s.interleaved = c.rope_interleave;
  s.freq_dtype = rope_freq_dtype;
  return s;
}

namespace {

// Builds one function (prefill or decode) of the program.
class FunctionBuilder {
 public:
  FunctionBuilder(mil::Program& p, const ModelConfig& c, const WeightSource& w, const TemplateOptions& o, bool decode,
                  std::vector<CacheTensor>* caches)
      : g_(p, decode ? "decode" : "prefill", w), ctx_{g_, c, traits_for(c), decode,
                                                      decode ? 1 : o.prefill_length, o.max_context},
        opts_(o), caches_(caches) {
    // Half-precision checkpoints: RoPE frequencies rounded like the weights (see RopeSpec::freq_dtype).
    auto stored = w.dtype("model.embed_tokens.weight");
    if (stored && (*stored == DType::kFp16 || *stored == DType::kBf16)) ctx_.tr.rope_freq_dtype = *stored;
  }

  Status build(mil::Function** out_fn, mil::Program& p) {
    const ModelConfig& c = ctx_.cfg;
    const int64_t T = ctx_.tokens, H = c.hidden_size, V = c.vocab_size;
    std::map<std::string, std::string> renames;
    std::string ids;
    if (ctx_.decode) {
      ids = g_.builder().input("token", mil::Type::tensor(DType::kInt32, {1}));
      ctx_.position = g_.builder().input("position", mil::Type::tensor(DType::kInt32, {1}));
    } else {
      ids = g_.builder().input("input_ids", mil::Type::tensor(DType::kInt32, {T}));
    }
    declare_cache_inputs();
    std::string embed = g_.weight("model.embed_tokens.weight", {V, H});
    std::string h = g_.op("gather", {{"x", embed}, {"indices", ids}, {"axis", Tensor::scalar_i64(DType::kInt32, 0)}});
    if (ctx_.tr.embed_scale) h = g_.scale(h, static_cast<float>(std::sqrt(static_cast<double>(H))));
    if (c.per_layer_input) ctx_.per_layer_inputs = per_layer_inputs(ctx_, ids, h);
    std::vector<std::string> hidden{h};
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      h = decoder_layer(ctx_, l, h);
      hidden.push_back(h);
    }
    h = g_.rms_norm(h, "model.norm.weight", H, c.rms_norm_eps, ctx_.tr.norm);
    hidden.back() = h;
    std::string head = c.tie_word_embeddings && !g_.has_weight("lm_head.weight") ? embed
                                                                                 : g_.weight("lm_head.weight", {V, H});
    std::string logits = g_.op("linear", {{"x", h}, {"weight", head}});
    if (c.final_logit_softcapping) logits = g_.softcap(logits, *c.final_logit_softcapping);
    IM_RETURN_IF_ERROR(g_.status());

    g_.builder().output(logits);
    renames[logits] = "logits";
    if (!ctx_.decode && opts_.hidden_states) {
      for (size_t i = 0; i < hidden.size(); ++i) {
        std::string name = "hidden_" + std::to_string(i);
        // A value can only carry one name: outputs that alias (e.g. embeddings = input) get an identity.
        std::string v = renames.count(hidden[i]) ? g_.op("identity", {{"x", hidden[i]}}) : hidden[i];
        g_.builder().output(v);
        renames[v] = name;
      }
    }
    for (const auto& [name, value] : ctx_.cache_out) {
      std::string v = renames.count(value) || ctx_.cache_in_names.count(value) ? g_.op("identity", {{"x", value}}) : value;
      g_.builder().output(v);
      renames[v] = name + "_out";
    }
    IM_RETURN_IF_ERROR(g_.status());
    mil::Function* fn = p.function(ctx_.decode ? "decode" : "prefill");
    rename_values(*fn, renames);
    *out_fn = fn;
    return Status::Ok();
  }

 private:
  // Decode reads every cache tensor as an input; prefill creates them (when a cache is wanted).
  void declare_cache_inputs() {
    if (ctx_.max_context <= 0) return;
    std::vector<CacheTensor> specs = cache_specs(ctx_.cfg, ctx_.max_context);
    for (const auto& s : specs) {
      if (ctx_.decode) {
        ctx_.cache_in[s.name] = g_.builder().input(s.name, s.type);
        ctx_.cache_in_names.insert(ctx_.cache_in[s.name]);
      }
    }
    if (caches_ && caches_->empty()) *caches_ = specs;
  }

  Graph g_;
  LayerContext ctx_;
  const TemplateOptions& opts_;
  std::vector<CacheTensor>* caches_;
};

}  // namespace

Result<LlmProgram> build_llm(const ModelConfig& config, const WeightSource& weights, const TemplateOptions& options) {
  IM_RETURN_IF_ERROR(check_supported(config));
  if (options.prefill_length <= 0 && options.max_context <= 0)
    return invalid_argument("template options: neither a prefill length nor a cache length was given");
  if (options.max_context > 0 && options.prefill_length > options.max_context)
    return invalid_argument("template options: prefill length " + std::to_string(options.prefill_length) +
                            " exceeds the cache length " + std::to_string(options.max_context));
  LlmProgram out;
  out.prefill_length = options.prefill_length;
  out.max_context = options.max_context;
  out.vocab_size = config.vocab_size;
  out.hidden_size = config.hidden_size;
  out.num_hidden_states = options.prefill_length > 0 && options.hidden_states ? config.num_hidden_layers + 1 : 0;
  out.program.attributes["autoregressive"] = mil::Value::of(Tensor::scalar_string("true"));
  mil::Function* fn = nullptr;
  if (options.prefill_length > 0) {
    FunctionBuilder fb(out.program, config, weights, options, false, &out.caches);
    IM_RETURN_IF_ERROR(fb.build(&fn, out.program));
  }
  if (options.max_context > 0) {
    FunctionBuilder fb(out.program, config, weights, options, true, &out.caches);
    IM_RETURN_IF_ERROR(fb.build(&fn, out.program));
  }
  IM_RETURN_IF_ERROR(mil::verify(out.program).with_context(config.source + ": generated program"));
  return out;
}

Result<LoadedModel> load_model(const std::string& path) {
  if (is_gguf_path(path)) return load_gguf_model(path);
  LoadedModel m;
  IM_ASSIGN_OR_RETURN(m.config, formats::hf::load_model_config(path));
  IM_RETURN_IF_ERROR(check_supported(m.config));
  IM_ASSIGN_OR_RETURN(auto w, open_safetensors_weights(path));
  m.weights = std::move(w);
  return m;
}

}  // namespace ironmill::templates
