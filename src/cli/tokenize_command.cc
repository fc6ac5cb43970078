// `ironmill tokenize MODEL [--text S | --file F] [--count] [--format json]`: encodes text with the
// tokenizer of MODEL (a model directory with tokenizer.json or tokenizer.model, one of those files, or
// a .gguf file's tokenizer.ggml.* vocabulary) and prints the ids, or only their count.
// Without --text or --file the text is read from standard input.
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "formats/tokenizer/tokenizer.h"

int cmd_tokenize(const std::vector<std::string>& args) {
  const char* usage =
      "usage: ironmill tokenize MODEL [--text S | --file F] [--count] [--format json]\n"
      "  MODEL: a model directory (tokenizer.json or tokenizer.model), one of those files, or a .gguf file\n";
  std::string model, text, file, format = "text";
  bool have_text = false, count_only = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if (a == "--text") {
      if (!value(text)) return std::cerr << usage, 2;
      have_text = true;
    } else if (a == "--file") {
      if (!value(file)) return std::cerr << usage, 2;
    } else if (a == "--count") {
      count_only = true;
    } else if (a == "--format") {
      if (!value(format)) return std::cerr << usage, 2;
    } else if (a == "-h" || a == "--help") {
      std::cout << usage;
      return 0;
    } else if (model.empty() && a.rfind("--", 0) != 0) {
      model = a;
    } else {
      std::cerr << "ironmill tokenize: unexpected argument `" << a << "`\n" << usage;
      return 2;
    }
  }
  if (model.empty() || (have_text && !file.empty()) || (format != "text" && format != "json")) {
    std::cerr << usage;
    return 2;
  }
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "ironmill: cannot open " << file << "\n";
      return 1;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  } else if (!have_text) {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }

  auto tok = ironmill::formats::tokenizer::load_tokenizer(model);
  if (!tok.ok()) {
    std::cerr << "ironmill: " << tok.status().message() << "\n";
    return 1;
  }
  auto ids = (*tok)->encode(text);
  if (!ids.ok()) {
    std::cerr << "ironmill: " << ids.status().message() << "\n";
    return 1;
  }
  if (format == "json") {
    nlohmann::json j = {{"tokenizer", std::string((*tok)->kind())}, {"count", ids->size()}};
    if (!count_only) j["ids"] = *ids;
    std::cout << j.dump() << "\n";
  } else if (count_only) {
    std::cout << ids->size() << "\n";
  } else {
    for (size_t i = 0; i < ids->size(); ++i) std::cout << (i ? " " : "") << (*ids)[i];
    std::cout << "\n";
  }
  return 0;
}
