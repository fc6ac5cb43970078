// The .ironml ANE-direct bundle (ironmill-notes.md §4.2):
//   <name>.ironml/manifest.json        {format_version: 1, model_type: "simple", sub_programs: [...]}
//   <name>.ironml/programs/<sub>.mil   MIL text, program(1.3), func main<ios18>
//   <name>.ironml/weights/<sub>.bin    MIL blob storage v2 holding every weight of the sub-program
// A sub-program's manifest entry lists its inputs and outputs ({name, shape [N,C,H,W], dtype}).
// Writes go to a temporary sibling directory renamed into place, so a failure never leaves half a bundle.
#pragma once
#include <string>
#include <vector>

#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::formats::bundles {

struct IoSpec {
  std::string name;
  std::vector<int64_t> shape;  // 4 dims [N,C,H,W]
  std::string dtype;           // ironmill's spelling: float16, float32, int8, u_int8, bool, ...
};

struct SubProgram {
  std::string name;
  std::string mil_text;
  std::vector<uint8_t> weights;  // blob storage v2 (may be empty: no weights)
  std::vector<IoSpec> inputs, outputs;
};

struct IronmlBundle {
  int format_version = 1;
  std::string model_type = "simple";
  std::vector<SubProgram> sub_programs;
};

// "@model_path/weights/<sub>.bin": how the MIL text names a sub-program's weight file.
std::string weight_path_for(const std::string& sub_name);
std::string ironml_dtype_name(mil::DType d);

// Moves constant tensors (const ops, and inline tensor arguments of more than `inline_limit`
// elements, hoisted into const ops) into one blob file, leaves BLOBFILE references, and fills a
// SubProgram (MIL text program(1.3), weights, I/O from the `main` function, which must be [N,C,H,W]).
Result<SubProgram> make_sub_program(const mil::Program& program, const std::string& sub_name, int64_t inline_limit = 16);

Status write_ironml(const IronmlBundle& bundle, const std::string& dir);
// Reads and checks a bundle: manifest fields, files, MIL text parses, every BLOBFILE reference resolves,
// manifest I/O equals the MIL function signature.
Result<IronmlBundle> read_ironml(const std::string& dir);
// Resolves the BLOBFILE references of a parsed sub-program program against its weight bytes.
Status resolve_weights(mil::Program& program, const SubProgram& sub);

}  // namespace ironmill::formats::bundles
