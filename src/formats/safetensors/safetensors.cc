#include "formats/safetensors/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <new>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "formats/mapped_file.h"

namespace ironmill::formats::safetensors {

using nlohmann::json;
namespace fs = std::filesystem;

std::optional<mil::DType> from_safetensors_dtype(std::string_view name) {
#define IM_X(n, e) \
  if (name == n) return mil::DType::e;
  IM_SAFETENSORS_DTYPES(IM_X)
#undef IM_X
  return std::nullopt;
}

std::optional<std::string_view> to_safetensors_dtype(mil::DType dtype) {
#define IM_X(n, e) \
  if (dtype == mil::DType::e) return std::string_view(n);
  IM_SAFETENSORS_DTYPES(IM_X)
#undef IM_X
  return std::nullopt;
}

namespace {

std::string known_dtypes() {
  std::string s;
#define IM_X(n, e) s += std::string(s.empty() ? "" : ", ") + n;
  IM_SAFETENSORS_DTYPES(IM_X)
#undef IM_X
  return s;
}

std::string offsets_text(uint64_t b, uint64_t e) { return "[" + std::to_string(b) + ", " + std::to_string(e) + "]"; }

// Quotes a name for messages, escaping control characters so garbage headers print readably.
std::string quote_name(std::string_view s) {
  std::string r = "'";
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7F) {
      static const char* kHex = "0123456789abcdef";
      r += "\\x";
      r += kHex[c >> 4];
      r += kHex[c & 15];
    } else {
      r += static_cast<char>(c);
    }
  }
  if (r.size() > 200) r = r.substr(0, 200) + "...";
  return r + "'";
}

class SafeTensorsLazySource final : public mil::LazyTensorSource {
 public:
  SafeTensorsLazySource(File file, std::string name) : file_(std::move(file)), name_(std::move(name)) {}
  Result<mil::Tensor> load() const override { return file_.tensor(name_); }
  std::string describe() const override { return file_.name() + ":" + name_; }

 private:
  File file_;
  std::string name_;
};

}  // namespace

struct File::State {
  std::string name;
  std::shared_ptr<const mil::Buffer> buffer;
  uint64_t data_start = 0;
  std::vector<TensorInfo> tensors;
  std::map<std::string, size_t, std::less<>> index;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> warnings;
};

const std::string& File::name() const { return state_->name; }
const std::vector<TensorInfo>& File::tensors() const { return state_->tensors; }
const std::map<std::string, std::string>& File::metadata() const { return state_->metadata; }
uint64_t File::data_start() const { return state_->data_start; }
const std::vector<std::string>& File::warnings() const { return state_->warnings; }
std::shared_ptr<const mil::Buffer> File::buffer() const { return state_->buffer; }

const TensorInfo* File::find(std::string_view tensor_name) const {
  auto it = state_->index.find(tensor_name);
  return it == state_->index.end() ? nullptr : &state_->tensors[it->second];
}

Result<File> File::open(const std::string& path, const ReadOptions& options) {
  IM_ASSIGN_OR_RETURN(auto mapped, MappedFile::open(path));
  return parse(std::move(mapped), path, options);
}

namespace {

// Parses one tensor entry of the header into `info` (offsets not yet checked against each other).
Status parse_entry(const std::string& file, const std::string& name, const json& v, uint64_t data_size,
                   TensorInfo& info, std::vector<std::string>& warnings) {
  const std::string where = file + ": tensor " + quote_name(name);
  if (!v.is_object()) return parse_error(where + ": entry is a JSON " + v.type_name() + ", expected an object");
  for (const auto& [k, _] : v.items())
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      warnings.push_back(where + ": ignoring unknown key " + quote_name(k));
  info.name = name;

  auto dt = v.find("dtype");
  if (dt == v.end()) return parse_error(where + ": missing \"dtype\"");
  if (!dt->is_string()) return parse_error(where + ": \"dtype\" is a JSON " + dt->type_name() + ", expected a string");
  const auto& dtype_text = dt->get_ref<const std::string&>();
  auto dtype = from_safetensors_dtype(dtype_text);
  if (!dtype)
    return unsupported(where + ": unknown dtype " + quote_name(dtype_text) + " (supported: " + known_dtypes() + ")");
  info.dtype = *dtype;

  auto sh = v.find("shape");
  if (sh == v.end()) return parse_error(where + ": missing \"shape\"");
  if (!sh->is_array()) return parse_error(where + ": \"shape\" is a JSON " + sh->type_name() + ", expected an array");
  uint64_t numel = 1;
  bool overflow = false;
  for (size_t i = 0; i < sh->size(); ++i) {
    const json& d = (*sh)[i];
    if (!d.is_number_unsigned())
      return parse_error(where + ": shape[" + std::to_string(i) + "] = " + d.dump() + " is not a non-negative integer");
    const uint64_t dim = d.get<uint64_t>();
    if (dim > static_cast<uint64_t>(INT64_MAX))
      return parse_error(where + ": shape[" + std::to_string(i) + "] = " + std::to_string(dim) + " is too large");
    info.shape.push_back(static_cast<int64_t>(dim));
    overflow = overflow || __builtin_mul_overflow(numel, dim, &numel);
  }
  const uint64_t elem = static_cast<uint64_t>(mil::dtype_element_bytes(info.dtype));
  uint64_t needed = 0;
  overflow = overflow || __builtin_mul_overflow(numel, elem, &needed) || numel > static_cast<uint64_t>(INT64_MAX);
  // A zero dimension makes the product 0 whatever the others are; only then is a huge shape harmless.
  if (overflow && std::find(info.shape.begin(), info.shape.end(), 0) == info.shape.end())
    return parse_error(where + ": shape " + mil::shape_to_string(info.shape) + " of dtype " + dtype_text +
                       " has a byte size that overflows 64 bits");
  if (overflow) needed = 0;

  auto off = v.find("data_offsets");
  if (off == v.end()) return parse_error(where + ": missing \"data_offsets\"");
  if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
    return parse_error(where + ": \"data_offsets\" = " + off->dump() + " is not [begin, end] of non-negative integers");
  info.begin = (*off)[0].get<uint64_t>();
  info.end = (*off)[1].get<uint64_t>();
  if (info.begin > info.end)
    return parse_error(where + " data_offsets " + offsets_text(info.begin, info.end) + " has begin > end");
  if (info.end > data_size)
    return parse_error(where + " data_offsets " + offsets_text(info.begin, info.end) +
                       " ends past the data region of " + std::to_string(data_size) + " bytes");
  if (info.end - info.begin != needed)
    return parse_error(where + " data_offsets " + offsets_text(info.begin, info.end) + " but dtype " + dtype_text +
                       " shape " + mil::shape_to_string(info.shape) + " needs " + std::to_string(needed) + " bytes");
  return Status::Ok();
}

}  // namespace

Result<File> File::parse(std::shared_ptr<const mil::Buffer> bytes, std::string name, const ReadOptions& options) {
  // Allocation failures (a hostile file can ask for huge arrays) become errors, never exceptions.
  const std::string file_name = name;
  try {
    return [&]() -> Result<File> {
      auto st = std::make_shared<State>();
      st->name = std::move(name);
      st->buffer = std::move(bytes);
      const std::string& file = st->name;
      const uint64_t size = st->buffer->size();
      if (size < 8)
        return parse_error(file + ": file is " + std::to_string(size) +
                           " bytes, too short for the 8-byte header length");
      uint64_t n = 0;
      std::memcpy(&n, st->buffer->data(), 8);  // little-endian host (x86-64, arm64)
      if (n > options.max_header_bytes)
        return parse_error(file + ": header length " + std::to_string(n) + " exceeds the limit of " +
                           std::to_string(options.max_header_bytes) + " bytes");
      if (n > size - 8)
        return parse_error(file + ": header length " + std::to_string(n) + " exceeds the " + std::to_string(size - 8) +
                           " bytes after the length field (file size " + std::to_string(size) + ")");
      if (n < 2) return parse_error(file + ": header length " + std::to_string(n) + " is too short for a JSON object");
      st->data_start = 8 + n;
      const uint64_t data_size = size - st->data_start;
      const char* text = reinterpret_cast<const char*>(st->buffer->data() + 8);
      if (text[0] != '{')
        return parse_error(file + ": header does not start with '{' (byte 8 is 0x" + [&] {
          char b[8];
          std::snprintf(b, sizeof b, "%02x", static_cast<unsigned char>(text[0]));
          return std::string(b);
        }() + ")");

      // Parse, rejecting duplicate keys at any depth (nlohmann would silently keep the last one).
      json header;
      std::string duplicate;
      try {
        std::vector<std::set<std::string>> keys;
        json::parser_callback_t cb = [&](int, json::parse_event_t event, json& parsed) {
          if (event == json::parse_event_t::object_start)
            keys.emplace_back();
          else if (event == json::parse_event_t::object_end && !keys.empty())
            keys.pop_back();
          else if (event == json::parse_event_t::key && !keys.empty() && duplicate.empty()) {
            const auto& k = parsed.get_ref<const std::string&>();
            if (!keys.back().insert(k).second) duplicate = k;
          }
          return true;
        };
        header = json::parse(text, text + n, cb);
      } catch (const json::exception& e) {
        return parse_error(file + ": header (" + std::to_string(n) +
                           " bytes at offset 8) is not valid JSON: " + e.what());
      }
      if (!duplicate.empty()) return parse_error(file + ": header has duplicate key " + quote_name(duplicate));
      if (!header.is_object())
        return parse_error(file + ": header is a JSON " + std::string(header.type_name()) + ", expected an object");

      try {
        for (const auto& [key, value] : header.items()) {
          if (key == "__metadata__") {
            if (!value.is_object())
              return parse_error(file + ": \"__metadata__\" is a JSON " + std::string(value.type_name()) +
                                 ", expected an object");
            for (const auto& [mk, mv] : value.items()) {
              if (!mv.is_string())
                return parse_error(file + ": __metadata__ " + quote_name(mk) + " is a JSON " + mv.type_name() +
                                   ", expected a string");
              st->metadata[mk] = mv.get<std::string>();
            }
            continue;
          }
          TensorInfo info;
          IM_RETURN_IF_ERROR(parse_entry(file, key, value, data_size, info, st->warnings));
          st->tensors.push_back(std::move(info));
        }
      } catch (const json::exception& e) {  // not expected after the type checks; never let one escape
        return internal_error(file + ": unexpected JSON error: " + e.what());
      }

      // Layout: sort by offsets, then require no overlap and (unless allowed) no gaps.
      std::sort(st->tensors.begin(), st->tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
        return a.begin != b.begin ? a.begin < b.begin : (a.end != b.end ? a.end < b.end : a.name < b.name);
      });
      uint64_t covered = 0;              // end of the bytes claimed so far
      const TensorInfo* last = nullptr;  // the tensor that claimed them
      for (const TensorInfo& t : st->tensors) {
        if (t.begin == t.end) continue;  // empty tensors own no bytes
        if (t.begin < covered)
          return parse_error(file + ": tensor " + quote_name(t.name) + " data_offsets " + offsets_text(t.begin, t.end) +
                             " overlaps tensor " + quote_name(last->name) + " data_offsets " +
                             offsets_text(last->begin, last->end));
        if (t.begin > covered) {
          std::string msg = file + ": " + std::to_string(t.begin - covered) + " unreferenced bytes at data offsets " +
                            offsets_text(covered, t.begin) + " before tensor " + quote_name(t.name);
          if (!options.allow_gaps) return parse_error(msg + " (the data region must be covered exactly)");
          st->warnings.push_back(msg);
        }
        covered = t.end;
        last = &t;
      }
      if (covered < data_size) {
        std::string msg = file + ": " + std::to_string(data_size - covered) +
                          " unreferenced bytes at the end of the data region " + offsets_text(covered, data_size);
        if (!options.allow_gaps) return parse_error(msg + " (the data region must be covered exactly)");
        st->warnings.push_back(msg);
      }
      for (size_t i = 0; i < st->tensors.size(); ++i) st->index.emplace(st->tensors[i].name, i);
      File f;
      f.state_ = std::move(st);
      return f;
    }();
  } catch (const std::bad_alloc&) {
    return io_error(file_name + ": out of memory while reading the header");
  } catch (const std::length_error&) {
    return io_error(file_name + ": out of memory while reading the header");
  }
}

Result<mil::Tensor> File::tensor(std::string_view tensor_name) const {
  const TensorInfo* info = find(tensor_name);
  if (!info) return not_found(name() + ": no tensor " + quote_name(tensor_name));
  const uint64_t offset = state_->data_start + info->begin;
  const auto elem = static_cast<uintptr_t>(mil::dtype_element_bytes(info->dtype));
  const auto addr = reinterpret_cast<uintptr_t>(state_->buffer->data()) + offset;
  if (elem > 1 && addr % elem != 0 && info->nbytes() > 0) {
    mil::Tensor copy(info->dtype, info->shape);  // misaligned: copy so typed access stays defined
    std::memcpy(copy.mutable_raw(), state_->buffer->data() + offset, info->nbytes());
    return copy;
  }
  auto t = mil::Tensor::view(info->dtype, info->shape, state_->buffer, static_cast<size_t>(offset));
  if (!t.ok()) return t.status().with_context(name() + ": tensor " + quote_name(tensor_name));
  return t;
}

Result<std::shared_ptr<const mil::LazyTensorSource>> File::lazy(std::string_view tensor_name) const {
  if (!find(tensor_name)) return not_found(name() + ": no tensor " + quote_name(tensor_name));
  return std::shared_ptr<const mil::LazyTensorSource>(
      std::make_shared<SafeTensorsLazySource>(*this, std::string(tensor_name)));
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

namespace {
bool is_index_file(const fs::path& p) { return p.extension() == ".json"; }
}  // namespace

Result<Checkpoint> Checkpoint::open(const std::string& path, const ReadOptions& options) {
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.safetensors.index.json", ec))
      p = p / "model.safetensors.index.json";
    else if (fs::exists(p / "model.safetensors", ec))
      p = p / "model.safetensors";
    else
      return not_found(path + ": directory holds neither model.safetensors nor model.safetensors.index.json");
  }
  Checkpoint ck;
  if (!is_index_file(p)) {
    IM_ASSIGN_OR_RETURN(File f, File::open(p.string(), options));
    for (const TensorInfo& t : f.tensors()) ck.where_.emplace(t.name, 0);
    ck.warnings_ = f.warnings();
    ck.files_.push_back(std::move(f));
    return ck;
  }

  const std::string index_name = p.string();
  IM_ASSIGN_OR_RETURN(std::string text, read_text_file(index_name));
  json index;
  try {
    index = json::parse(text);
  } catch (const json::exception& e) {
    return parse_error(index_name + ": not valid JSON: " + e.what());
  }
  if (!index.is_object()) return parse_error(index_name + ": expected a JSON object");
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object()) return parse_error(index_name + ": missing \"weight_map\" object");
  if (auto md = index.find("metadata"); md != index.end()) {
    if (!md->is_object()) return parse_error(index_name + ": \"metadata\" is not an object");
    for (const auto& [k, v] : md->items()) ck.index_metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }

  const fs::path dir = p.parent_path();
  std::map<std::string, size_t> shard_index;  // shard file name -> files_ index
  for (const auto& [tensor, shard] : wm->items()) {
    if (!shard.is_string())
      return parse_error(index_name + ": weight_map entry " + quote_name(tensor) + " is not a file name string");
    const std::string shard_name = shard.get<std::string>();
    const fs::path rel(shard_name);
    bool escapes = shard_name.empty() || rel.is_absolute();
    for (const auto& part : rel) escapes = escapes || part == "..";
    if (escapes)
      return parse_error(index_name + ": weight_map entry " + quote_name(tensor) + " names shard " +
                         quote_name(shard_name) + ", which is not a relative path inside the checkpoint directory");
    auto it = shard_index.find(shard_name);
    if (it == shard_index.end()) {
      auto f = File::open((dir / rel).string(), options);
      if (!f.ok()) return f.status().with_context(index_name + ": shard " + quote_name(shard_name));
      it = shard_index.emplace(shard_name, ck.files_.size()).first;
      for (const auto& w : f->warnings()) ck.warnings_.push_back(w);
      ck.files_.push_back(std::move(f).value());
    }
    if (!ck.files_[it->second].find(tensor))
      return not_found(index_name + ": weight_map puts tensor " + quote_name(tensor) + " in shard " +
                       quote_name(shard_name) + ", which has no such tensor");
    ck.where_.emplace(tensor, it->second);
  }
  for (const File& f : ck.files_)
    for (const TensorInfo& t : f.tensors())
      if (auto w = ck.where_.find(t.name); w == ck.where_.end() || &ck.files_[w->second] != &f)
        ck.warnings_.push_back(f.name() + ": tensor " + quote_name(t.name) + " is not mapped to this shard by " +
                               index_name + "; ignored");
  return ck;
}

std::vector<std::string> Checkpoint::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(where_.size());
  for (const auto& [n, _] : where_) names.push_back(n);
  return names;
}

const TensorInfo* Checkpoint::find(std::string_view tensor_name) const {
  auto it = where_.find(tensor_name);
  return it == where_.end() ? nullptr : files_[it->second].find(tensor_name);
}

Result<mil::Tensor> Checkpoint::tensor(std::string_view tensor_name) const {
  auto it = where_.find(tensor_name);
  if (it == where_.end()) return not_found("checkpoint has no tensor " + quote_name(tensor_name));
  return files_[it->second].tensor(tensor_name);
}

Result<std::shared_ptr<const mil::LazyTensorSource>> Checkpoint::lazy(std::string_view tensor_name) const {
  auto it = where_.find(tensor_name);
  if (it == where_.end()) return not_found("checkpoint has no tensor " + quote_name(tensor_name));
  return files_[it->second].lazy(tensor_name);
}

// ---------------------------------------------------------------------------------------------
// Writer

namespace {

// Position in IM_SAFETENSORS_DTYPES, which follows the reference crate's Dtype order; the writer sorts
// by it, descending (then by name), exactly as safetensors' serialize() does.
int dtype_rank(mil::DType d) {
  int i = 0;
#define IM_X(n, e)                  \
  if (d == mil::DType::e) return i; \
  ++i;
  IM_SAFETENSORS_DTYPES(IM_X)
#undef IM_X
  return -1;
}

struct Planned {
  const NamedTensor* t;
  std::string_view dtype;
  uint64_t begin, end;
};

Result<std::pair<std::string, std::vector<Planned>>> plan(const std::vector<NamedTensor>& tensors,
                                                          const std::map<std::string, std::string>& metadata) {
  std::vector<Planned> order;
  std::set<std::string_view> seen;
  for (const NamedTensor& nt : tensors) {
    if (nt.name.empty()) return invalid_argument("safetensors writer: empty tensor name");
    if (nt.name == "__metadata__")
      return invalid_argument("safetensors writer: a tensor cannot be named \"__metadata__\"");
    if (!seen.insert(nt.name).second)
      return invalid_argument("safetensors writer: duplicate tensor name " + quote_name(nt.name));
    auto dn = to_safetensors_dtype(nt.tensor.dtype());
    if (!dn)
      return unsupported("safetensors writer: tensor " + quote_name(nt.name) + " has dtype " +
                         std::string(mil::dtype_name(nt.tensor.dtype())) + ", which SafeTensors cannot store");
    order.push_back({&nt, *dn, 0, 0});
  }
  std::sort(order.begin(), order.end(), [](const Planned& a, const Planned& b) {
    const int ra = dtype_rank(a.t->tensor.dtype()), rb = dtype_rank(b.t->tensor.dtype());
    return ra != rb ? ra > rb : a.t->name < b.t->name;
  });
  std::string header = "{";
  try {
    if (!metadata.empty()) header += "\"__metadata__\":" + json(metadata).dump() + ",";
    uint64_t offset = 0;
    for (Planned& p : order) {
      p.begin = offset;
      p.end = offset + p.t->tensor.nbytes();
      offset = p.end;
      header += json(p.t->name).dump() + ":{\"dtype\":\"" + std::string(p.dtype) +
                "\",\"shape\":" + json(p.t->tensor.shape()).dump() + ",\"data_offsets\":[" + std::to_string(p.begin) +
                "," + std::to_string(p.end) + "]},";
    }
  } catch (const json::exception& e) {  // invalid UTF-8 in a name or metadata value
    return invalid_argument(std::string("safetensors writer: ") + e.what());
  }
  if (header.back() == ',') header.pop_back();
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  return std::make_pair(std::move(header), std::move(order));
}

std::string length_prefix(uint64_t n) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &n, 8);
  return s;
}

}  // namespace

Result<std::string> serialize(const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  IM_ASSIGN_OR_RETURN(auto planned, plan(tensors, metadata));
  auto& [header, order] = planned;
  std::string out = length_prefix(header.size()) + header;
  for (const Planned& p : order) out.append(reinterpret_cast<const char*>(p.t->tensor.raw()), p.t->tensor.nbytes());
  return out;
}

Status write(const std::string& path, const std::vector<NamedTensor>& tensors,
             const std::map<std::string, std::string>& metadata) {
  IM_ASSIGN_OR_RETURN(auto planned, plan(tensors, metadata));
  auto& [header, order] = planned;
  IM_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::open(path));
  IM_RETURN_IF_ERROR(w->write(length_prefix(header.size()).data(), 8));
  IM_RETURN_IF_ERROR(w->write(header.data(), header.size()));
  for (const Planned& p : order) IM_RETURN_IF_ERROR(w->write(p.t->tensor.raw(), p.t->tensor.nbytes()));
  return w->commit();
}

}  // namespace ironmill::formats::safetensors
