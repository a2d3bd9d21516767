// tensor/io/npy.cpp: .npy reader/writer and the checked file I/O helpers (see npy.h for the layout).
#include "tensor/io/npy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "tensor/io/crash_point.h"

namespace fm {

// Every format here is little-endian on disk; we copy bytes straight into floats.
static_assert(std::endian::native == std::endian::little, "file readers assume a little-endian host");

// ---- checked file I/O ----

void throw_file_error(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

bool checked_byte_size(const Shape& shape, uint64_t itemsize, uint64_t* bytes) {
  uint64_t n = itemsize;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  *bytes = n;
  return true;
}

InputFile::InputFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw_file_error(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw_file_error(path, "not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

InputFile::~InputFile() { ::close(fd_); }

void InputFile::read(uint64_t offset, void* dst, size_t n) const {
  if (offset > size_ || n > size_ - offset)
    throw_file_error(path_, "file truncated: needs bytes up to " + std::to_string(offset + n) +
                                " but has " + std::to_string(size_));
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t got = ::pread(fd_, p, std::min(n, size_t(1) << 30), static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_file_error(path_, std::string("read error: ") + std::strerror(errno));
    if (got == 0) throw_file_error(path_, "file shrank while being read");
    p += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

std::string InputFile::read_all() const {
  std::string s(size_, '\0');
  read(0, s.data(), s.size());
  return s;
}

AtomicFileWriter::AtomicFileWriter(const std::string& path) : path_(path), tmp_(path + ".tmp") {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    tmp_.clear();
    fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) throw_file_error(path, std::string("cannot open for writing: ") + std::strerror(errno));
    return;
  }
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_file_error(path, "cannot create " + tmp_ + ": " + std::strerror(errno));
  crash_pending_ = crash_due(std::filesystem::path(path).filename().string());
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  if (crash_pending_) {  // the test hook: the temporary file half written, then SIGKILL
    crash_pending_ = false;
    write(p, n / 2);
    crash_now();
  }
  while (n > 0) {
    ssize_t put = ::write(fd_, p, std::min(n, size_t(1) << 30));
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) throw_file_error(path_, "write to " + (tmp_.empty() ? path_ : tmp_) + " failed: " + std::strerror(errno));
    p += put;
    n -= static_cast<size_t>(put);
  }
}

void AtomicFileWriter::commit() {
  if (tmp_.empty()) {  // a device or pipe, written in place: nothing to sync or rename
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) throw_file_error(path_, std::string("close failed: ") + std::strerror(errno));
    committed_ = true;
    return;
  }
  // fsync before rename: otherwise a crash could leave PATH renamed but its data not yet on disk.
  if (::fsync(fd_) != 0) throw_file_error(path_, "fsync of " + tmp_ + " failed: " + std::strerror(errno));
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw_file_error(path_, "close of " + tmp_ + " failed: " + std::strerror(errno));
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw_file_error(path_, "rename from " + tmp_ + " failed: " + std::strerror(errno));
  committed_ = true;
}

// ---- .npy header ----

std::string npy_shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

namespace {

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

// Parses the header dict: the subset of Python literal syntax that numpy writes.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (!eat('}')) {
      std::string key = quoted();
      expect(':');
      if (key == "descr" && !seen_descr) {
        if (!at_quote()) fail("'descr' is not a simple dtype string (structured dtypes are not supported)");
        h.descr = quoted();
        seen_descr = true;
      } else if (key == "fortran_order" && !seen_order) {
        h.fortran_order = boolean();
        seen_order = true;
      } else if (key == "shape" && !seen_shape) {
        h.shape = tuple();
        seen_shape = true;
      } else {
        fail("unexpected or repeated key '" + key + "'");
      }
      if (!eat(',')) {
        expect('}');
        break;
      }
    }
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected characters after the dict");
    if (!seen_descr || !seen_order || !seen_shape) fail("it lacks one of 'descr', 'fortran_order', 'shape'");
    return h;
  }

 private:
  std::string_view s_;
  const std::string& path_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw_file_error(path_, "malformed .npy header at character " + std::to_string(pos_) + ": " + what);
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t')) ++pos_;
  }
  bool eat(char c) {
    skip_ws();
    if (pos_ >= s_.size() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  bool at_quote() {
    skip_ws();
    return pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"');
  }
  std::string quoted() {
    if (!at_quote()) fail("expected a quoted string");
    char q = s_[pos_++];
    size_t end = s_.find(q, pos_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_ws();
    for (bool v : {true, false}) {
      std::string_view word = v ? "True" : "False";
      if (s_.substr(pos_).starts_with(word)) {
        pos_ += word.size();
        return v;
      }
    }
    fail("expected True or False");
  }
  // "()", "(5,)", "(3, 2)"; Python 2 era files may write "3L".
  Shape tuple() {
    Shape shape;
    expect('(');
    while (!eat(')')) {
      skip_ws();
      size_t start = pos_;
      int64_t d = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        if (d > (int64_t(1) << 53)) fail("dimension too large");
        d = d * 10 + (s_[pos_++] - '0');
      }
      if (pos_ == start) fail("expected a non-negative integer dimension");
      if (pos_ < s_.size() && s_[pos_] == 'L') ++pos_;
      shape.push_back(d);
      if (!eat(',')) {
        expect(')');
        break;
      }
    }
    return shape;
  }
};

}  // namespace

// ---- load / save ----

static constexpr char kMagic[] = "\x93NUMPY";  // 6 bytes + terminator
static constexpr uint64_t kMaxHeaderBytes = 1 << 20;

// The header of the .npy file `f`, and where its data starts; nothing about the dtype checked yet.
static NpyHeader read_header(const InputFile& f, uint64_t* data_at) {
  const std::string& path = f.path();
  unsigned char pre[12] = {};
  if (f.size() < 10) throw_file_error(path, "too short to be a .npy file (" + std::to_string(f.size()) + " bytes)");
  f.read(0, pre, std::min<uint64_t>(f.size(), 12));
  if (std::memcmp(pre, kMagic, 6) != 0) throw_file_error(path, "not a .npy file (bad magic bytes)");
  int major = pre[6], minor = pre[7];
  if (major < 1 || major > 3 || minor != 0)
    throw_file_error(path, "unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor));

  // v1 stores the header length as u16 at byte 8; v2/v3 as u32.
  uint64_t prefix = major == 1 ? 10 : 12;
  uint64_t header_len = major == 1 ? pre[8] | pre[9] << 8
                                   : pre[8] | pre[9] << 8 | pre[10] << 16 | uint64_t(pre[11]) << 24;
  if (f.size() < prefix || header_len > f.size() - prefix)
    throw_file_error(path, "header length " + std::to_string(header_len) + " exceeds the file size " +
                               std::to_string(f.size()));
  if (header_len > kMaxHeaderBytes)
    throw_file_error(path, "header length " + std::to_string(header_len) + " is implausibly large");
  std::string text(header_len, '\0');
  f.read(prefix, text.data(), text.size());
  *data_at = prefix + header_len;
  return HeaderParser(text, path).parse();
}

// Refuses Fortran order and a data size that does not match the shape (before anything is allocated).
static uint64_t check_data_size(const InputFile& f, const NpyHeader& h, uint64_t itemsize, uint64_t data_at) {
  const std::string& path = f.path();
  if (h.fortran_order)
    throw_file_error(path, "fortran_order is True (Fortran-ordered arrays are not supported; save in C order)");
  uint64_t need = 0, have = f.size() - data_at;
  bool fits = checked_byte_size(h.shape, itemsize, &need);
  if (!fits || need != have)
    throw_file_error(path, "data is " + std::to_string(have) + " bytes but shape " + npy_shape_str(h.shape) +
                               " of '" + h.descr + "' needs " +
                               (fits ? std::to_string(need) : std::string("more than 2^64")));
  return need;
}

Tensor load_npy(const std::string& path) {
  InputFile f(path);
  uint64_t data_at = 0;
  NpyHeader h = read_header(f, &data_at);
  uint64_t itemsize = h.descr == "<f4" ? 4 : h.descr == "<f8" ? 8 : 0;
  if (itemsize == 0)
    throw_file_error(path, "dtype '" + h.descr + "' is not supported (expected float32 '<f4' or float64 '<f8')");
  uint64_t need = check_data_size(f, h, itemsize, data_at);

  Tensor t = Tensor::empty(h.shape);
  if (itemsize == 4) {
    f.read(data_at, t.data(), need);
  } else {  // float64: convert in chunks so we never hold a second full-size copy
    std::vector<double> buf(1 << 14);
    for (int64_t i = 0, n = t.numel(); i < n; i += int64_t(buf.size())) {
      size_t k = std::min<size_t>(buf.size(), size_t(n - i));
      f.read(data_at + uint64_t(i) * 8, buf.data(), k * 8);
      for (size_t j = 0; j < k; ++j) t.data()[i + int64_t(j)] = static_cast<float>(buf[j]);
    }
  }
  return t;
}

// Item sizes of the dtypes that load_npy_raw can hand over. numpy writes '|u1' for uint8 (byte
// order does not apply to one byte); '<u1' and 'u1' mean the same.
static uint64_t raw_itemsize(const std::string& descr) {
  if (descr == "|u1" || descr == "<u1" || descr == "u1") return 1;
  if (descr == "<i4" || descr == "<f4") return 4;
  if (descr == "<i8" || descr == "<f8") return 8;
  return 0;
}

static std::string canonical_descr(const std::string& descr) { return raw_itemsize(descr) == 1 ? "|u1" : descr; }

NpyRaw read_npy_header(const std::string& path) {
  InputFile f(path);
  uint64_t data_at = 0;
  NpyHeader h = read_header(f, &data_at);
  return {canonical_descr(h.descr), h.shape, {}};
}

NpyRaw load_npy_raw(const std::string& path, const std::vector<std::string>& dtypes) {
  InputFile f(path);
  uint64_t data_at = 0;
  NpyHeader h = read_header(f, &data_at);
  const std::string descr = canonical_descr(h.descr);
  bool wanted = false;
  std::string names;
  for (const std::string& d : dtypes) {
    wanted = wanted || d == descr;
    names += (names.empty() ? "'" : ", '") + d + "'";
  }
  if (!wanted || raw_itemsize(descr) == 0)
    throw_file_error(path, "dtype '" + h.descr + "' is not supported here (expected one of " + names + ")");
  NpyRaw r{descr, h.shape, std::string(check_data_size(f, h, raw_itemsize(descr), data_at), '\0')};
  f.read(data_at, r.bytes.data(), r.bytes.size());
  return r;
}

namespace {
// A v1.0 .npy of `bytes` bytes of dtype `descr` and `shape`, written atomically.
void write_npy(const std::string& path, const std::string& descr, const Shape& shape, const void* data, size_t bytes) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + npy_shape_str(shape) + ", }";
  // Pad with spaces so the data starts on a 64-byte boundary (numpy's own choice, good for mmap).
  size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 65535)
    throw_file_error(path, "shape " + npy_shape_str(shape) + " is too long for a v1.0 header");

  std::string prefix(kMagic, 6);
  prefix += {'\x01', '\x00', char(header.size() & 0xFF), char(header.size() >> 8)};
  AtomicFileWriter w(path);
  w.write(prefix);
  w.write(header);
  w.write(data, bytes);
  w.commit();
}
}  // namespace

void save_npy(const std::string& path, const Tensor& t) {
  if (!t.defined()) throw_file_error(path, "save_npy needs a defined tensor");
  const Tensor host = t.to(Device::CPU);  // files are device-independent
  write_npy(path, "<f4", t.shape(), host.data(), size_t(host.numel()) * sizeof(float));
}

void save_npy_int64(const std::string& path, const std::vector<int64_t>& values) {
  write_npy(path, "<i8", {int64_t(values.size())}, values.data(), values.size() * sizeof(int64_t));
}

}  // namespace fm
