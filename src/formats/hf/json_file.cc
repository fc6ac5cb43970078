#include "formats/hf/json_file.h"

#include <fstream>
#include <sstream>

namespace ironmill::formats::hf {

Result<std::string> read_text_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return invalid_argument(path.string() + ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error(path.string() + ": read failed");
  return ss.str();
}

Result<nlohmann::json> parse_json(std::string_view text, const std::string& source) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return parse_error(source + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    return parse_error(source + ": invalid JSON: " + e.what());
  }
}

Result<nlohmann::json> load_json_file(const std::filesystem::path& path) {
  IM_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return parse_json(text, path.string());
}

std::string json_type_name(const nlohmann::json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number_float()) return "number";
  return v.type_name();
}

}  // namespace ironmill::formats::hf
