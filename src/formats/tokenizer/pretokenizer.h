// Pre-tokenization pieces shared by the tokenizer.json pipeline and its tests: HF's split behaviors,
// the GPT-2 split pattern and the GPT-2 byte <-> Unicode alphabet.
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formats/tokenizer/regex.h"

namespace ironmill::formats::tokenizer {

// The pattern of HF's ByteLevel pre-tokenizer (use_regex: true), from GPT-2.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// HF's SplitDelimiterBehavior.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Splits `text` at `matches` (sorted, non-overlapping byte ranges) the way HF's
// NormalizedString::split does; empty pieces are dropped.
std::vector<std::string> split_at_matches(std::string_view text, const std::vector<std::pair<size_t, size_t>>& matches,
                                          SplitBehavior behavior, bool invert = false);
std::vector<std::string> regex_split(const Regex& re, std::string_view text,
                                     SplitBehavior behavior = SplitBehavior::kIsolated, bool invert = false);

// GPT-2's reversible byte -> printable character map: byte b is written as the UTF-8 of
// byte_to_unicode()[b]; unicode_to_byte(c) is the byte or -1.
const std::array<std::string, 256>& byte_to_unicode();
int unicode_to_byte(char32_t c);
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace ironmill::formats::tokenizer
