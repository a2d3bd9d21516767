// tensor/io/safetensors.cpp: safetensors reader/writer (see safetensors.h for the layout).
#include "tensor/io/safetensors.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "tensor/io/json.h"
#include "tensor/io/npy.h"  // InputFile, AtomicFileWriter, checked_byte_size

namespace fm {

static constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's cap
static const char* kMetadataKey = "__metadata__";

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const NamedTensor& nt : tensors)
    if (nt.name == name) return &nt.tensor;
  return nullptr;
}

// ---- writing ----

void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  Json header;
  if (!metadata.empty()) {
    Json meta = Json::Object{};
    for (const auto& [k, v] : metadata) meta.set(k, v);
    header.set(kMetadataKey, std::move(meta));
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const NamedTensor& nt : tensors) {
    if (nt.name == kMetadataKey || !names.insert(nt.name).second)
      throw_file_error(path, "tensor name '" + nt.name + "' is reserved or repeated");
    if (!nt.tensor.defined()) throw_file_error(path, "tensor '" + nt.name + "' is undefined");
    Json shape = Json::Array{};
    for (int64_t d : nt.tensor.shape()) shape.as_array().emplace_back(d);
    uint64_t bytes = uint64_t(nt.tensor.numel()) * sizeof(float);
    Json entry;
    entry.set("dtype", "F32");
    entry.set("shape", std::move(shape));
    entry.set("data_offsets", Json::Array{Json(offset), Json(offset + bytes)});
    header.set(nt.name, std::move(entry));
    offset += bytes;
  }
  std::string text = header.is_null() ? "{}" : to_json(header);
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned

  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));
  AtomicFileWriter w(path);
  w.write(len, 8);
  w.write(text);
  for (const NamedTensor& nt : tensors) {  // device tensors come to the host first: files are device-independent
    const Tensor host = nt.tensor.to(Device::CPU);
    w.write(host.data(), size_t(host.numel()) * sizeof(float));
  }
  w.commit();
}

// ---- reading ----

namespace {

struct Entry {
  std::string name;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

// Validates one tensor's header entry: exactly dtype/shape/data_offsets, F32, sizes consistent.
Entry parse_entry(const std::string& path, const std::string& name, const Json& v, uint64_t data_size) {
  auto fail = [&](const std::string& what) { throw_file_error(path, "tensor '" + name + "': " + what); };
  if (!v.is_object()) fail("header entry is a " + std::string(json_type_name(v.type())) + ", not an object");
  for (const auto& [key, _] : v.as_object())
    if (key != "dtype" && key != "shape" && key != "data_offsets") fail("unexpected field '" + key + "'");
  const Json *dtype = v.find("dtype"), *shape = v.find("shape"), *offsets = v.find("data_offsets");
  if (!dtype || !shape || !offsets) fail("entry needs 'dtype', 'shape' and 'data_offsets'");
  if (!dtype->is_string()) fail("'dtype' is not a string");
  if (dtype->as_string() != "F32") fail("dtype '" + dtype->as_string() + "' is not supported (expected 'F32')");

  Entry e{name, {}, 0, 0};
  if (!shape->is_array()) fail("'shape' is not an array");
  for (const Json& d : shape->as_array()) {
    if (!d.is_index()) fail("'shape' entries must be non-negative integers");
    e.shape.push_back(static_cast<int64_t>(d.as_number()));
  }
  if (!offsets->is_array() || offsets->as_array().size() != 2 || !offsets->as_array()[0].is_index() ||
      !offsets->as_array()[1].is_index())
    fail("'data_offsets' must be [begin, end] with non-negative integers");
  e.begin = static_cast<uint64_t>(offsets->as_array()[0].as_number());
  e.end = static_cast<uint64_t>(offsets->as_array()[1].as_number());
  std::string range = "[";  // built by appending: GCC 12 warns falsely (-Wrestrict) on "[" + std::string
  range += std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  if (e.begin > e.end || e.end > data_size)
    fail("data_offsets " + range + " are not a valid range inside the data section (" + std::to_string(data_size) +
         " bytes)");
  uint64_t bytes = 0;
  if (!checked_byte_size(e.shape, sizeof(float), &bytes) || bytes != e.end - e.begin)
    fail("shape " + shape_str(e.shape) + " of F32 does not match data_offsets " + range);
  return e;
}

// The spec requires the tensors to tile the data section exactly: no overlaps, no holes, nothing
// after the last tensor (bytes nobody indexes could smuggle a second file format in).
void check_coverage(const std::string& path, std::vector<Entry> entries, uint64_t data_size) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered)
      throw_file_error(path, "tensors '" + prev->name + "' and '" + e.name + "' overlap in the data section");
    if (e.begin > covered)
      throw_file_error(path, "data bytes [" + std::to_string(covered) + ", " + std::to_string(e.begin) +
                                 ") are not part of any tensor");
    covered = e.end;
    prev = &e;
  }
  if (covered != data_size)
    throw_file_error(path, std::to_string(data_size - covered) +
                               " trailing bytes after the last tensor are not part of any tensor");
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path) {
  InputFile f(path);
  if (f.size() < 8)
    throw_file_error(path, "too short to be a safetensors file (" + std::to_string(f.size()) + " bytes)");
  unsigned char len[8];
  f.read(0, len, 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | len[i];
  if (n > f.size() - 8)
    throw_file_error(path, "header length " + std::to_string(n) + " exceeds the file size " + std::to_string(f.size()));
  if (n > kMaxHeaderBytes) throw_file_error(path, "header length " + std::to_string(n) + " exceeds the 100 MB limit");
  std::string text(n, '\0');
  f.read(8, text.data(), n);
  uint64_t data_at = 8 + n, data_size = f.size() - data_at;

  Json header;
  try {
    header = parse_json(text);
  } catch (const std::runtime_error& e) {
    throw_file_error(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw_file_error(path, "header is not a JSON object");

  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [name, v] : header.as_object()) {  // the parser has already rejected duplicate names
    if (name != kMetadataKey) {
      entries.push_back(parse_entry(path, name, v, data_size));
      continue;
    }
    if (!v.is_object()) throw_file_error(path, "__metadata__ is not an object");
    for (const auto& [k, s] : v.as_object()) {
      if (!s.is_string()) throw_file_error(path, "__metadata__ value for '" + k + "' is not a string");
      out.metadata[k] = s.as_string();
    }
  }
  check_coverage(path, entries, data_size);

  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape);
    f.read(data_at + e.begin, t.data(), e.end - e.begin);
    out.tensors.push_back({e.name, std::move(t)});
  }
  return out;
}

}  // namespace fm
