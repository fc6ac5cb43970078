// Small helpers shared by rewrite passes: fresh names, building ops, rewiring uses.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mil/ir.h"

namespace ironmill::passes {

// Builds replacement ops for one block. Names are unique within the function.
class OpEmitter {
 public:
  explicit OpEmitter(const mil::Function& f, std::string prefix);
  // Adds `type(inputs)` with one output; returns the output name. Output types are filled by inference.
  std::string emit(const std::string& type, const std::map<std::string, mil::Binding>& inputs,
                   const std::string& out_name = "");
  // Adds a multi-output op, returns its output names.
  std::vector<std::string> emit_multi(const std::string& type, const std::map<std::string, mil::Argument>& inputs,
                                      size_t outputs);
  std::string fresh(const std::string& stem);
  std::vector<mil::Operation>& ops() { return ops_; }

 private:
  std::set<std::string> used_;
  std::string prefix_;
  int counter_ = 0;
  std::vector<mil::Operation> ops_;
};

mil::Binding use(const std::string& name);
mil::Binding scalar(mil::DType dtype, double v);        // inline scalar constant
mil::Binding ints(const std::vector<int64_t>& v);       // inline int32 vector
mil::Binding boolean(bool v);
mil::Binding str(const std::string& s);
mil::Binding tensor(const mil::Tensor& t);

// Renames every use of `from` (inputs of ops at index >= start, nested blocks, block outputs) to `to`.
void replace_uses(mil::Block& block, const std::string& from, const std::string& to, size_t start = 0);
// Number of ops in `block` (from `start`) that read `name`, plus 1 if it is a block output.
int count_uses(const mil::Block& block, const std::string& name, size_t start = 0);
// Types of every value defined in the function (inputs and op outputs), for rewrites that need shapes.
std::map<std::string, mil::Type> value_types(const mil::Function& f);
// Constant values by name (const ops), and the value an argument's single binding holds if constant.
std::map<std::string, const mil::Value*> const_values(const mil::Function& f);
const mil::Value* const_binding(const mil::Operation& op, const std::string& input,
                                const std::map<std::string, const mil::Value*>& consts);
// Drops const ops nobody reads (what the rewrites orphan).
bool remove_dead_consts(mil::Block& block);

}  // namespace ironmill::passes
