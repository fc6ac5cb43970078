// Reading JSON files for the Hugging Face formats (config.json, tokenizer.json, tokenizer_config.json)
// with errors that name the file and the byte offset. nlohmann's exceptions stay inside.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "util/status.h"

namespace ironmill::formats::hf {

Result<std::string> read_text_file(const std::filesystem::path& path);
// Parses `text`; `source` (a path or a description) prefixes every error.
Result<nlohmann::json> parse_json(std::string_view text, const std::string& source);
Result<nlohmann::json> load_json_file(const std::filesystem::path& path);

// The JSON type of `v` in words ("string", "array", ...), for messages.
std::string json_type_name(const nlohmann::json& v);

}  // namespace ironmill::formats::hf
