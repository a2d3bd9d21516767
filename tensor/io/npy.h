// tensor/io/npy.h: NumPy .npy files, plus the checked file I/O that every format reader/writer uses.
//
// .npy layout (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
//   bytes 0-5   magic "\x93NUMPY"
//   bytes 6-7   version major, minor: 1.0, 2.0 or 3.0
//   then        header length H: u16 little-endian for v1, u32 for v2/v3
//   then        H bytes of ASCII (UTF-8 for v3): a Python dict literal, space-padded, ending in '\n':
//               {'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }
//   then        the raw array data, exactly numel * itemsize bytes.
// load_npy reads little-endian float32 ('<f4') and float64 ('<f8', converted to float32) in C order;
// load_npy_raw hands over the bytes of uint8 ('|u1'), int32/int64 and float arrays unconverted
// (image and label readers). save_npy writes v1.0 '<f4' with the data starting on a 64-byte
// boundary, as numpy itself does.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace fm {

Tensor load_npy(const std::string& path);

// A .npy array as stored: its dtype ('|u1', '<i4', '<i8', '<f4' or '<f8'; '<u1' and 'u1' read as
// '|u1'), its shape and its C-order element bytes, little-endian.
struct NpyRaw {
  std::string descr;
  Shape shape;
  std::string bytes;
};
// The dtype and shape alone (bytes empty), for a reader that picks its way by them. The dtype
// is not checked: it is whatever the header says.
NpyRaw read_npy_header(const std::string& path);
// The whole array, whose dtype must be one of `dtypes` (else a one-line error listing them).
NpyRaw load_npy_raw(const std::string& path, const std::vector<std::string>& dtypes);
void save_npy(const std::string& path, const Tensor& t);
// A 1-D int64 array ('<i8'), e.g. class labels (written atomically, as save_npy).
void save_npy_int64(const std::string& path, const std::vector<int64_t>& values);

// A shape as numpy prints it: "()", "(5,)", "(3, 2)".
std::string npy_shape_str(const Shape& shape);

// ---- Checked file I/O shared by the .npy, safetensors, data-file and PNG code ----

// Throws std::runtime_error("<path>: <what>"): every file error is one line naming the file.
[[noreturn]] void throw_file_error(const std::string& path, const std::string& what);

// numel(shape) * itemsize in bytes, or false if a dimension is negative or the product overflows.
// Readers call this before allocating, so a hostile shape can't trigger a huge allocation.
bool checked_byte_size(const Shape& shape, uint64_t itemsize, uint64_t* bytes);

// A regular file opened for reading, with bounds-checked positional reads.
class InputFile {
 public:
  explicit InputFile(const std::string& path);  // throws if missing, unreadable, or not a file
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // Reads exactly n bytes at `offset`; throws (naming the file) if the file is shorter.
  void read(uint64_t offset, void* dst, size_t n) const;
  std::string read_all() const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Writes PATH.tmp and renames it over PATH in commit(), so an interrupted write never leaves a
// half-written PATH nor destroys the previous one. Without commit(), the destructor removes
// PATH.tmp. Every I/O error (disk full, unwritable directory) throws with the path. A PATH that
// exists and is not a regular file (a device such as /dev/null or /dev/full, a pipe) is written in
// place: renaming over it would replace the device with a file.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t n);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
  void commit();

 private:
  std::string path_, tmp_;  // tmp_ empty: writing PATH itself
  int fd_ = -1;
  bool committed_ = false;
  bool crash_pending_ = false;  // FM_CRASH_AT names this file (crash_point.h): die in the first write
};

}  // namespace fm
