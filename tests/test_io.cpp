// tests/test_io.cpp: file formats: JSON, safetensors, .npy, .csv data files, PNG.
//
// Readers are tested mostly on hostile input: every malformed file must produce one exception
// whose message says what was wrong, never a crash or an out-of-bounds read.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "apps/pictures.h"
#include "flow/datafile.h"
#include "flow/png_file.h"
#include "tensor/io/json.h"
#include "tensor/io/npy.h"
#include "tensor/io/safetensors.h"
#include "tests/test_util.h"

using namespace fm;
using fm::testing::error_of;
using fm::testing::TempDir;
namespace fs = std::filesystem;

namespace {


std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), size_t(a.numel()) * 4) == 0;
}

std::string u64le(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += char(v >> (8 * i));
  return s;
}

uint32_t u32be(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = v << 8 | uint8_t(s[at + i]);
  return v;
}

}  // namespace

// ---------------------------------------------------------------- JSON

TEST_CASE("json: parse, serialize and round trip") {
  Json v = parse_json(R"( {"b": [1, -2.5, true, false, null], "a": {"s": "x\"y\\z\n"}, "e": 1e3} )");
  CHECK(v.as_object()[0].first == "b");  // key order preserved
  CHECK(v.find("b")->as_array()[1].as_number() == -2.5);
  CHECK(v.find("a")->find("s")->as_string() == "x\"y\\z\n");
  CHECK(v.find("e")->as_number() == 1000);
  CHECK(to_json(v) == R"({"b":[1,-2.5,true,false,null],"a":{"s":"x\"y\\z\n"},"e":1000})");
  CHECK(to_json(parse_json(to_json(v))) == to_json(v));

  // Integers up to 2^53 exactly, other doubles via the shortest exact text.
  for (double x : {9007199254740992.0, -9007199254740991.0, 0.1, 1.0 / 3, 1e300, 5e-324})
    CHECK(parse_json(to_json(Json(x))).as_number() == x);
  CHECK(to_json(Json(int64_t(1) << 53)) == "9007199254740992");
  CHECK_THROWS(to_json(Json(std::nan(""))));

  // Escapes: control characters out, \u and surrogate pairs in.
  CHECK(to_json(Json(std::string("\x01\t"))) == R"("\u0001\t")");
  CHECK(parse_json(R"("\u0041\u00e9\u20ac\ud83d\ude00\/")").as_string() == "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80/");
  CHECK(parse_json("\"\xC3\xA9\"").as_string() == "\xC3\xA9");
}

TEST_CASE("json: strict parser rejects malformed text with a byte offset") {
  for (const char* bad : {"", "01", "1.", ".5", "+1", "[1,]", "{\"a\":1,}", "{'a':1}", "[1 2]", "1 2", "nul",
                          "\"abc", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\u12G4\"", "\"a\nb\"", "\"\xff\"",
                          "\"\xC0\x80\"", "\"\xED\xA0\x80\"", "{\"a\":1,\"a\":2}", "1e999", "{1:2}"}) {
    CAPTURE(bad);
    std::string msg = error_of([&] { parse_json(bad); });
    CHECK(msg.find("at byte") != std::string::npos);
  }
  CHECK(error_of([] { parse_json("{\"a\":1,\"a\":2}"); }).find("duplicate key \"a\"") != std::string::npos);
  CHECK_THROWS(parse_json(std::string(100000, '[')));  // deep nesting: an exception, not a stack overflow
  CHECK_NOTHROW(parse_json(std::string(200, '[') + std::string(200, ']')));
  CHECK(error_of([] { Json(1.0).as_string(); }).find("expected string, found number") != std::string::npos);
}

// ---------------------------------------------------------------- safetensors

namespace {

std::vector<NamedTensor> sample_tensors() {
  float denormal = std::numeric_limits<float>::denorm_min();
  return {{"weight", Tensor::from({1.5f, -0.0f, denormal, 3.4e38f, -1e-30f, 7.f}, {2, 3})},
          {"scalar", Tensor::scalar(42.f)},
          {"empty", Tensor::empty({0, 4})},
          {"bias", Tensor::from({0.25f, -0.5f, 1.f, 2.f, 3.f}, {5})}};
}

// A safetensors file from a literal header (padded to 8 bytes) and `data_bytes` bytes of data.
std::string st_bytes(std::string header, size_t data_bytes) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return u64le(header.size()) + header + std::string(data_bytes, '\x11');
}

}  // namespace

TEST_CASE("safetensors: bitwise round trip with metadata, 0-d and zero-size tensors") {
  TempDir tmp;
  std::string path = tmp.path("model.safetensors");
  auto tensors = sample_tensors();
  std::map<std::string, std::string> meta = {{"step", "1000"}, {"note", "quote \" backslash \\ newline \n"}};
  save_safetensors(path, tensors, meta);
  CHECK_FALSE(fs::exists(path + ".tmp"));

  SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    CHECK(f.tensors[i].name == tensors[i].name);
    CHECK(same_bits(f.tensors[i].tensor, tensors[i].tensor));
  }
  CHECK(f.metadata == meta);
  REQUIRE(f.find("scalar") != nullptr);
  CHECK(f.find("scalar")->shape().empty());
  CHECK(f.find("scalar")->item() == 42.f);
  CHECK(f.find("missing") == nullptr);

  save_safetensors(path, {}, {});  // overwrite with an empty file: header "{}" padded
  CHECK(load_safetensors(path).tensors.empty());
}

TEST_CASE("safetensors: byte layout written") {
  TempDir tmp;
  std::string path = tmp.path("layout.safetensors");
  auto tensors = sample_tensors();
  save_safetensors(path, tensors, {{"k", "v"}});
  std::string bytes = read_bytes(path);
  REQUIRE(bytes.size() >= 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | uint8_t(bytes[i]);
  CHECK(n % 8 == 0);
  REQUIRE(n <= bytes.size() - 8);
  std::string header = bytes.substr(8, n);
  CHECK(header.front() == '{');
  CHECK(header.find_last_not_of(' ') == header.rfind('}'));  // only space padding after the object

  Json h = parse_json(header);
  CHECK(h.find("__metadata__")->find("k")->as_string() == "v");
  uint64_t offset = 0;
  for (const NamedTensor& nt : tensors) {
    const Json* e = h.find(nt.name);
    REQUIRE(e != nullptr);
    CHECK(e->as_object().size() == 3);
    CHECK(e->find("dtype")->as_string() == "F32");
    Shape shape;
    for (const Json& d : e->find("shape")->as_array()) shape.push_back(int64_t(d.as_number()));
    CHECK(shape == nt.tensor.shape());
    uint64_t bytes_of = uint64_t(nt.tensor.numel()) * 4;
    CHECK(e->find("data_offsets")->as_array()[0].as_number() == double(offset));  // contiguous, in order
    CHECK(e->find("data_offsets")->as_array()[1].as_number() == double(offset + bytes_of));
    CHECK(std::memcmp(bytes.data() + 8 + n + offset, nt.tensor.data(), bytes_of) == 0);
    offset += bytes_of;
  }
  CHECK(bytes.size() == 8 + n + offset);
}

TEST_CASE("safetensors: malformed files are rejected with a message") {
  TempDir tmp;
  std::string path = tmp.path("bad.safetensors");
  auto expect_error = [&](const std::string& bytes, const std::string& needle) {
    write_bytes(path, bytes);
    std::string msg = error_of([&] { load_safetensors(path); });
    CAPTURE(msg);
    CHECK(msg.find(path) == 0);
    CHECK(msg.find(needle) != std::string::npos);
  };
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  write_bytes(path, st_bytes(ok, 8));
  CHECK_NOTHROW(load_safetensors(path));  // the baseline the cases below break

  expect_error("", "too short");
  expect_error("abcd", "too short");
  expect_error(u64le(1000) + "{}", "header length 1000 exceeds the file size 10");
  expect_error(u64le(uint64_t(1) << 62) + "{}", "exceeds the file size");
  expect_error(st_bytes("{not json}", 0), "not valid JSON");
  expect_error(st_bytes("[1,2]", 0), "not a JSON object");
  expect_error(st_bytes(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8), "dtype");
  expect_error(st_bytes(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4), "F16");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "does not match");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "non-negative");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8), "non-negative");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 8), "[4, 12] are not a valid range");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8), "not a valid range");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), "overlap");
  expect_error(st_bytes(ok, 12), "trailing bytes");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), "[0, 4)");
  expect_error(st_bytes(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
               "not a string");
  expect_error(st_bytes(R"({"__metadata__":[],"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
               "__metadata__");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8), "unexpected field");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "duplicate");
  expect_error(st_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
               "does not match");

  std::string dir_msg = error_of([&] { save_safetensors(tmp.path("no/such/dir/x.safetensors"), sample_tensors()); });
  CHECK(dir_msg.find("no/such/dir/x.safetensors") != std::string::npos);
  CHECK_THROWS(save_safetensors(path, {{"a", Tensor::scalar(1)}, {"a", Tensor::scalar(2)}}));
}

TEST_CASE("safetensors: truncation and header corruption never crash") {
  TempDir tmp;
  std::string good_path = tmp.path("good.safetensors"), path = tmp.path("fuzz.safetensors");
  save_safetensors(good_path, sample_tensors(), {{"step", "7"}});
  const std::string good = read_bytes(good_path);
  uint64_t header_end = 8;
  for (int i = 7; i >= 0; --i) header_end = header_end + (uint64_t(uint8_t(good[i])) << (8 * i));

  // Every strict prefix loses bytes the header accounts for, so every one must throw.
  for (size_t len = 0; len < good.size(); ++len) {
    write_bytes(path, good.substr(0, len));
    CAPTURE(len);
    CHECK_THROWS_AS(load_safetensors(path), std::runtime_error);
  }
  // Random byte flips in the length and header: load or throw, nothing else.
  std::mt19937 rng(1234);
  int loaded = 0, rejected = 0;
  for (int iter = 0; iter < 500; ++iter) {
    std::string bytes = good;
    for (int k = 0, flips = 1 + int(rng() % 3); k < flips; ++k) bytes[rng() % header_end] = char(rng());
    write_bytes(path, bytes);
    try {
      load_safetensors(path);
      ++loaded;
    } catch (const std::runtime_error&) {
      ++rejected;
    }
  }
  CHECK(loaded + rejected == 500);
  CHECK(rejected > 0);
}

// ---------------------------------------------------------------- .npy

namespace {

// A .npy file by hand: magic, version, header length, dict padded to 64 bytes, data.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + char(major) + '\0';
  for (size_t i = 0; i < prefix - 8; ++i) out += char(header.size() >> (8 * i));
  return out + header + data;
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

}  // namespace

TEST_CASE("npy: round trip, header layout") {
  TempDir tmp;
  std::string path = tmp.path("x.npy");
  for (const Shape& shape : {Shape{3, 2}, Shape{}, Shape{7}, Shape{0, 5}, Shape{2, 1, 3}}) {
    CAPTURE(shape_str(shape));
    Tensor t = Tensor::empty(shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = float(i) * 0.37f - 1.f;
    save_npy(path, t);
    CHECK(same_bits(load_npy(path), t));

    std::string bytes = read_bytes(path);
    CHECK(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
    size_t header_len = uint8_t(bytes[8]) | uint8_t(bytes[9]) << 8;
    CHECK((10 + header_len) % 64 == 0);
    CHECK(bytes[9 + header_len] == '\n');
    CHECK(bytes.substr(10, header_len).find("'shape': " + npy_shape_str(shape)) != std::string::npos);
    CHECK(bytes.size() == 10 + header_len + size_t(t.numel()) * 4);
  }
  CHECK(npy_shape_str({5}) == "(5,)");
  CHECK(npy_shape_str({}) == "()");
  CHECK(npy_shape_str({3, 2}) == "(3, 2)");
}

TEST_CASE("writers: a device is written in place, never replaced, and a full device is an error naming it") {
  // Renaming a temporary file over /dev/full (as root) would replace the device with a file.
  Tensor t = Tensor::from({1.0f, 2.0f}, {2});
  CHECK_THROWS_WITH_AS(save_npy("/dev/full", t), doctest::Contains("/dev/full: write to /dev/full failed: No space left"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(save_safetensors("/dev/full", {{"t", t}}), doctest::Contains("/dev/full"), std::runtime_error);
  CHECK_NOTHROW(save_npy("/dev/null", t));
  struct stat st;
  REQUIRE(stat("/dev/full", &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  REQUIRE(stat("/dev/null", &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK(!std::filesystem::exists("/dev/full.tmp"));
  CHECK(!std::filesystem::exists("/dev/null.tmp"));
}

TEST_CASE("npy: float64 and v2.0 files written by hand load as float32") {
  TempDir tmp;
  std::string path = tmp.path("f8.npy");
  write_bytes(path, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                              raw<double>({0.5, -1.25, 1e10, 1.0 / 3})));
  Tensor t = load_npy(path);
  CHECK(t.shape() == Shape{2, 2});
  CHECK(t.data()[0] == 0.5f);
  CHECK(t.data()[1] == -1.25f);
  CHECK(t.data()[2] == 1e10f);
  CHECK(t.data()[3] == float(1.0 / 3));

  write_bytes(path, npy_bytes("{\"shape\": (3L,), \"descr\": \"<f4\", \"fortran_order\": False}",
                              raw<float>({1, 2, 3}), 2));
  CHECK(same_bits(load_npy(path), Tensor::from({1, 2, 3}, {3})));
}

TEST_CASE("npy: unsupported or malformed files are rejected naming what was found") {
  TempDir tmp;
  std::string path = tmp.path("data.npy");
  auto error_for = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    return error_of([&] { load_npy(path); });
  };
  auto dict = [](const char* descr, const char* order, const char* shape) {
    return std::string("{'descr': '") + descr + "', 'fortran_order': " + order + ", 'shape': " + shape + ", }";
  };
  std::string f4x6 = raw<float>({1, 2, 3, 4, 5, 6});
  write_bytes(path, npy_bytes(dict("<f4", "False", "(3, 2)"), f4x6));
  CHECK_NOTHROW(load_npy(path));  // the baseline the cases below break

  std::string msg = error_for(npy_bytes(dict("<i8", "False", "(3,)"), raw<int64_t>({1, 2, 3})));
  CHECK(msg == path + ": dtype '<i8' is not supported (expected float32 '<f4' or float64 '<f8')");
  CHECK(error_for(npy_bytes(dict(">f4", "False", "(3, 2)"), f4x6)).find("'>f4'") != std::string::npos);
  CHECK(error_for(npy_bytes(dict("<f4", "True", "(3, 2)"), f4x6)).find("fortran_order is True") != std::string::npos);
  CHECK(error_for(std::string("\x93NUMPX\x01\x00", 8) + npy_bytes(dict("<f4", "False", "(3, 2)"), f4x6).substr(8))
            .find("bad magic") != std::string::npos);
  msg = error_for(npy_bytes(dict("<f4", "False", "(3, 2)"), f4x6.substr(0, 20)));
  CHECK(msg.find("data is 20 bytes but shape (3, 2) of '<f4' needs 24") != std::string::npos);
  CHECK(error_for(npy_bytes(dict("<f4", "False", "(3, 2)"), f4x6 + "xx")).find("needs 24") != std::string::npos);
  CHECK(error_for(std::string("\x93NUMPY\x01\x00\xff\x7f{}", 12)).find("exceeds the file size") != std::string::npos);
  CHECK(error_for(std::string("\x93NUMPY\x04\x00\x10\x00", 10)).find("version 4.0") != std::string::npos);
  CHECK(error_for("\x93NUMPY").find("too short") != std::string::npos);
  CHECK(error_for(npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "abcd"))
            .find("structured") != std::string::npos);
  CHECK(error_for(npy_bytes("{'descr': '<f4', 'shape': (1,), }", "abcd")).find("lacks") != std::string::npos);
  CHECK(error_for(npy_bytes(dict("<f4", "False", "(3, -2)"), f4x6)).find("malformed") != std::string::npos);
  CHECK(error_for(npy_bytes(dict("<f4", "False", "(99999999999, 99999999999, 99999999999)"), f4x6))
            .find("needs more than 2^64") != std::string::npos);
  CHECK(error_of([&] { load_npy(tmp.path("missing.npy")); }).find("cannot open") != std::string::npos);
}

// ---------------------------------------------------------------- data files

TEST_CASE("datafile: csv with header, comments, blank lines and CRLF") {
  TempDir tmp;
  std::string path = tmp.path("points.csv");
  write_bytes(path, "# two points\n\n x , y \n1, 2\r\n 3.5 ,-4\n\n# more\n5e-1,+6\n");
  Tensor x = load_data_file(path);
  CHECK(same_bits(x, Tensor::from({1, 2, 3.5f, -4, 0.5f, 6}, {3, 2})));

  write_bytes(path, "1\n2\n3");  // no header, no trailing newline
  CHECK(same_bits(load_data_file(path), Tensor::from({1, 2, 3}, {3, 1})));
}

TEST_CASE("datafile: bad csv files name the offending line") {
  TempDir tmp;
  std::string path = tmp.path("data.csv");
  auto error_for = [&](const std::string& text) {
    write_bytes(path, text);
    return error_of([&] { load_data_file(path); });
  };
  CHECK(error_for("x,y\n1,2\n3,4\n5\n") == path + ": line 4: has 1 columns, expected 2 (as on line 2)");
  CHECK(error_for("1,2\n3,abc\n") == path + ": line 2: column 2: 'abc' is not a number");
  CHECK(error_for("1,2\n3,\n") == path + ": line 2: column 2: '' is not a number");
  CHECK(error_for("1,2\nnan,3\n").find("line 2: column 1: 'nan' is not finite") != std::string::npos);
  CHECK(error_for("1,2\n3,-inf\n").find("line 2") != std::string::npos);
  CHECK(error_for("1,2\n3,1e39\n").find("out of float32 range") != std::string::npos);
  CHECK(error_for("x,y\ny,z\n").find("line 2: column 1: 'y' is not a number") != std::string::npos);
  CHECK(error_for("x,y,z\n1,2\n").find("header has 3 columns") != std::string::npos);
  CHECK(error_for("# nothing\n\n").find("no data rows") != std::string::npos);
}

TEST_CASE("datafile: npy shape and value checks, unknown extensions") {
  TempDir tmp;
  std::string path = tmp.path("data.npy");
  save_npy(path, Tensor::from({1, 2, 3, 4}, {2, 2}));
  CHECK(same_bits(load_data_file(path), Tensor::from({1, 2, 3, 4}, {2, 2})));

  save_npy(path, Tensor::from({1, 2, 3, 4, 5}, {5}));
  CHECK(error_of([&] { load_data_file(path); }) == path + ": expected a 2-D array N×D, found shape (5,)");
  save_npy(path, Tensor::empty({0, 2}));
  CHECK(error_of([&] { load_data_file(path); }).find("found shape (0, 2)") != std::string::npos);
  save_npy(path, Tensor::from({1, 2, 3, std::nanf("")}, {2, 2}));
  CHECK(error_of([&] { load_data_file(path); }).find("x[1, 1] (flat index 3) is NaN") != std::string::npos);

  std::string txt = tmp.path("data.txt");
  write_bytes(txt, "1,2\n");
  CHECK(error_of([&] { load_data_file(txt); }) ==
        txt + ": unsupported data file extension '.txt' (supported: .npy, .csv)");
  write_bytes(tmp.path("UPPER.CSV"), "1,2\n");
  CHECK(load_data_file(tmp.path("UPPER.CSV")).shape() == Shape{1, 2});
}

// ---------------------------------------------------------------- PNG

namespace {

struct DecodedPng {
  uint32_t width = 0, height = 0;
  int bit_depth = 0, colour_type = 0;
  std::vector<uint8_t> pixels;
};

// Checks the signature and every chunk CRC, inflates IDAT and undoes the row filters.
DecodedPng decode_png(const std::string& bytes) {
  DecodedPng png;
  REQUIRE(bytes.size() >= 8);
  REQUIRE(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  std::string idat, last_type;
  for (size_t at = 8; at < bytes.size();) {
    REQUIRE(at + 12 <= bytes.size());
    uint32_t len = u32be(bytes, at);
    REQUIRE(at + 12 + len <= bytes.size());
    std::string type = bytes.substr(at + 4, 4), data = bytes.substr(at + 8, len);
    uLong crc = crc32(0, reinterpret_cast<const Bytef*>(bytes.data() + at + 4), 4 + len);
    CHECK(u32be(bytes, at + 8 + len) == crc);
    if (type == "IHDR") {
      REQUIRE(len == 13);
      png.width = u32be(data, 0);
      png.height = u32be(data, 4);
      png.bit_depth = uint8_t(data[8]);
      png.colour_type = uint8_t(data[9]);
      CHECK(data.substr(10) == std::string(3, '\0'));
    }
    if (type == "IDAT") idat += data;
    last_type = type;
    at += 12 + len;
  }
  CHECK(last_type == "IEND");
  int channels = png.colour_type == 2 ? 3 : 1;
  size_t row = size_t(png.width) * channels;
  std::vector<uint8_t> raw((row + 1) * png.height);
  uLongf raw_len = raw.size();
  REQUIRE(uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) == Z_OK);
  REQUIRE(raw_len == raw.size());
  // Each scanline's filter (PNG spec section 9): x is the byte as stored, a the reconstructed byte
  // one pixel to the left, b the one above, c the one above-left (0 outside the image).
  for (uint32_t y = 0; y < png.height; ++y) {
    const uint8_t filter = raw[y * (row + 1)];
    REQUIRE(filter <= 4);
    const size_t at = png.pixels.size();
    for (size_t i = 0; i < row; ++i) {
      const int x = raw[y * (row + 1) + 1 + i];
      const int a = i >= size_t(channels) ? png.pixels[at + i - size_t(channels)] : 0;
      const int b = y > 0 ? png.pixels[at + i - row] : 0;
      const int c = y > 0 && i >= size_t(channels) ? png.pixels[at + i - row - size_t(channels)] : 0;
      const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
      const int paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const int pred[5] = {0, a, b, (a + b) / 2, paeth};
      png.pixels.push_back(uint8_t(x + pred[filter]));
    }
  }
  return png;
}

}  // namespace

TEST_CASE("png: a header claiming more pixels than the file can hold is refused before any allocation") {
  // Signature, IHDR 100000 x 100000 8-bit grey, a tiny IDAT, IEND; each chunk with its CRC.
  auto chunk = [](const char* type, const std::string& data) {
    std::string c;
    for (int s = 24; s >= 0; s -= 8) c += char((data.size() >> s) & 0xff);
    std::string body = std::string(type, 4) + data;
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()));
    c += body;
    for (int s = 24; s >= 0; s -= 8) c += char((crc >> s) & 0xff);
    return c;
  };
  std::string ihdr;
  for (uint32_t v : {100000u, 100000u})
    for (int s = 24; s >= 0; s -= 8) ihdr += char((v >> s) & 0xff);
  ihdr += std::string("\x08\x00\x00\x00\x00", 5);
  const std::string idat("\x78\x9c\x63\x00\x00\x00\x01\x00\x01", 9);  // zlib of one zero byte
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", "");
  fm::testing::TempDir tmp("fm_test_io_png");
  const std::string path = (tmp.dir / "huge.png").string();
  std::ofstream(path, std::ios::binary) << png;
  CHECK_THROWS_WITH_AS(PngFile{path}, doctest::Contains("the header claims 100000 x 100000 pixels, more than"), std::runtime_error);
}

TEST_CASE("png: gray and RGB images decode back to the pixels written") {
  TempDir tmp;
  for (int channels : {1, 3}) {
    CAPTURE(channels);
    int w = 5, h = 3;
    std::vector<uint8_t> pixels(size_t(w * h * channels));
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i * 37 + 11);
    std::string path = tmp.path("img" + std::to_string(channels) + ".png");
    write_png(path, w, h, channels, pixels.data());
    DecodedPng png = decode_png(read_bytes(path));
    CHECK(png.width == uint32_t(w));
    CHECK(png.height == uint32_t(h));
    CHECK(png.bit_depth == 8);
    CHECK(png.colour_type == (channels == 1 ? 0 : 2));
    CHECK(png.pixels == pixels);
  }
  uint8_t px = 0;
  CHECK_THROWS(write_png(tmp.path("bad.png"), 1, 1, 2, &px));
  CHECK(error_of([&] { write_png(tmp.path("nodir/x.png"), 1, 1, 1, &px); }).find("nodir/x.png") != std::string::npos);
}

TEST_CASE("png: density image lights exactly the occupied cell, y up") {
  const int size = 8;
  std::vector<float> xy;
  for (int i = 0; i < 100; ++i) xy.insert(xy.end(), {0.3f, -0.8f});  // all in cell x 5, y 0 (bottom)
  std::vector<uint8_t> rgb = density_image_rgb(xy.data(), 100, size, -1.f, 1.f);
  REQUIRE(rgb.size() == size_t(size * size * 3));
  for (int row = 0; row < size; ++row)
    for (int col = 0; col < size; ++col) {
      const uint8_t* p = &rgb[size_t((row * size + col) * 3)];
      bool white = p[0] == 255 && p[1] == 255 && p[2] == 255;
      CAPTURE(row);
      CAPTURE(col);
      CHECK(white == !(row == size - 1 && col == 5));
    }

  // One outlier bin does not wash out the others: with 200 ordinary cells and one huge one, the
  // ordinary cells reach the dark end of the ramp instead of staying pale.
  std::vector<float> many;
  for (int i = 0; i < 200; ++i) many.insert(many.end(), {-1.f + (i % 20 + 0.5f) * 0.1f, -1.f + (i / 20 + 0.5f) * 0.1f});
  for (int i = 0; i < 100000; ++i) many.insert(many.end(), {0.95f, 0.95f});
  std::vector<uint8_t> img = density_image_rgb(many.data(), int64_t(many.size() / 2), 20, -1.f, 1.f);
  const uint8_t* ordinary = &img[size_t((19 * 20 + 0) * 3)];  // bottom-left cell, one point
  const uint8_t* outlier = &img[size_t((0 * 20 + 19) * 3)];
  CHECK(ordinary[0] + ordinary[1] + ordinary[2] == outlier[0] + outlier[1] + outlier[2]);
  CHECK(ordinary[0] < 100);
}

TEST_CASE("png: hconcat and image grid geometry") {
  std::vector<uint8_t> a(2 * 3 * 3, 10), b(2 * 3 * 3, 20);
  int width = 0;
  std::vector<uint8_t> ab = hconcat_rgb({a, b}, 2, 3, 1, &width);
  CHECK(width == 5);
  REQUIRE(ab.size() == size_t(5 * 3 * 3));
  for (int y = 0; y < 3; ++y) {
    CHECK(ab[size_t((y * 5 + 1) * 3)] == 10);
    CHECK(ab[size_t((y * 5 + 2) * 3)] == 255);  // gap
    CHECK(ab[size_t((y * 5 + 3) * 3)] == 20);
  }
  CHECK_THROWS(hconcat_rgb({a, std::vector<uint8_t>(5)}, 2, 3, 1, &width));

  // 3 gray 2×2 images, 2 per row: 2 rows, width 2+2+2, height 2+2+2.
  Tensor imgs = Tensor::full({3, 1, 2, 2}, -1.f);
  imgs.data()[4 + 3] = 1.f;  // image 1, pixel (1, 1)
  int w = 0, h = 0;
  std::vector<uint8_t> grid = image_grid_rgb(imgs, 2, &w, &h);
  CHECK(w == 6);
  CHECK(h == 6);
  REQUIRE(grid.size() == size_t(6 * 6 * 3));
  CHECK(grid[size_t((1 * 6 + 5) * 3)] == 255);  // image 1 at x 4..5, y 0..1
  CHECK(grid[size_t((0 * 6 + 4) * 3)] == 0);
  CHECK(grid[size_t((0 * 6 + 2) * 3)] == 255);  // gap column
  CHECK(grid[size_t((5 * 6 + 4) * 3)] == 255);  // empty slot of the second row
  CHECK(grid[size_t((4 * 6 + 0) * 3)] == 0);    // image 2
  CHECK_THROWS(image_grid_rgb(Tensor::zeros({2, 2, 2, 2}), 2, &w, &h));
}
