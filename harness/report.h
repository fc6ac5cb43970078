// Report writers: every harness command writes schema-versioned JSON plus a Markdown view, each via a
// temporary sibling renamed into place, so a crash never leaves a half-written report.
#pragma once
#include <string>

#include "util/status.h"

namespace ironmill::harness {

// Writes `contents` to `path` atomically (temp file + rename), creating parent directories.
Status write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace ironmill::harness
