// `ironmill export-gguf MODEL_DIR -o OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_k|q6_k] [--name NAME]`:
// a Hugging Face checkpoint directory (config.json + SafeTensors) -> a GGUF file llama.cpp loads.
// Prints one line per tensor (GGUF name, type, dims) unless --quiet, then a summary.
#include <iostream>
#include <string>
#include <vector>

#include "frontends/gguf_export/gguf_export.h"

int cmd_export_gguf(const std::vector<std::string>& args) {
  namespace ge = ironmill::frontends::gguf_export;
  const char* usage =
      "usage: ironmill export-gguf MODEL_DIR -o OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_k|q6_k] [--name NAME] "
      "[--quiet]\n";
  std::string model, out, type = "f16", name;
  bool quiet = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& v) {
      if (i + 1 >= args.size()) return false;
      v = args[++i];
      return true;
    };
    if (a == "-o" || a == "--output") {
      if (!value(out)) return std::cerr << usage, 2;
    } else if (a == "--type") {
      if (!value(type)) return std::cerr << usage, 2;
    } else if (a == "--name") {
      if (!value(name)) return std::cerr << usage, 2;
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "-h" || a == "--help") {
      std::cout << usage;
      return 0;
    } else if (model.empty() && a.rfind("-", 0) != 0) {
      model = a;
    } else {
      std::cerr << "ironmill export-gguf: unexpected argument `" << a << "`\n" << usage;
      return 2;
    }
  }
  if (model.empty() || out.empty()) return std::cerr << usage, 2;
  auto t = ge::parse_output_type(type);
  if (!t.ok()) {
    std::cerr << "ironmill export-gguf: " << t.status().message() << "\n";
    return 2;
  }
  ge::ExportOptions options;
  options.type = *t;
  options.name = name;
  auto r = ge::export_gguf(model, out, options);
  if (!r.ok()) {
    std::cerr << "ironmill export-gguf: " << r.status().message() << "\n";
    return 1;
  }
  if (!quiet) {
    for (const auto& et : r->tensors) {
      std::cout << et.gguf_name << "\t" << ironmill::formats::gguf::ggml_type_name(et.type) << "\t[";
      for (size_t i = 0; i < et.ne.size(); ++i) std::cout << (i ? ", " : "") << et.ne[i];
      std::cout << "]" << (et.permuted ? "\tq/k permuted" : "") << "\n";
    }
  }
  for (const auto& w : r->warnings) std::cerr << "ironmill export-gguf: warning: " << w << "\n";
  if (!r->has_vocab)
    std::cerr << "ironmill export-gguf: warning: no tokenizer metadata written (tokenizer.json -> GGUF vocab "
                 "is not built in); llama.cpp will refuse to load the file\n";
  std::cout << out << ": arch " << r->arch << ", " << r->tensors.size() << " tensors, " << r->file_bytes
            << " bytes\n";
  return 0;
}
