// flow/idx.cpp: IDX reader (layout in idx.h), with streaming gunzip through zlib's inflate.
#include "flow/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "tensor/io/npy.h"

namespace fm {

namespace {

std::string hex(uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%0*X", digits, v);
  return buf;
}

std::string sizes_str(const Shape& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

uint32_t magic_for(int ndims) { return 0x0800u | uint32_t(ndims); }

std::string kind_of(int ndims) {
  return ndims == 3 ? "an image file" : ndims == 1 ? "a label file" : std::to_string(ndims) + "-D data";
}

bool is_gzip(const InputFile& f) {
  unsigned char m[2];
  if (f.size() < 2) return false;
  f.read(0, m, 2);
  return m[0] == 0x1f && m[1] == 0x8b;
}

// Decompresses a whole gzip file chunk by chunk: memory grows only with the data actually
// produced, and stops at max_bytes however large the header or trailer claims the data is.
std::string gunzip(const InputFile& f, uint64_t max_bytes) {
  const std::string& path = f.path();
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw_file_error(path, "cannot initialise zlib");
  struct End {
    z_stream* zs;
    ~End() { inflateEnd(zs); }
  } end{&zs};

  std::vector<unsigned char> in(1 << 16), out(1 << 16);
  std::string result;
  uint64_t pos = 0;
  bool later_member = false;  // past the end of the first gzip stream
  for (;;) {
    if (zs.avail_in == 0 && pos < f.size()) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(in.size(), f.size() - pos));
      f.read(pos, in.data(), n);
      pos += n;
      zs.next_in = in.data();
      zs.avail_in = static_cast<uInt>(n);
    }
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&zs, Z_NO_FLUSH);
    size_t produced = out.size() - zs.avail_out;
    if (produced > max_bytes - result.size())
      throw_file_error(path, "decompresses to more than " + std::to_string(max_bytes) + " bytes (the limit)");
    result.append(reinterpret_cast<const char*>(out.data()), produced);

    bool input_done = zs.avail_in == 0 && pos == f.size();
    if (rc == Z_STREAM_END) {
      if (input_done) return result;
      // More bytes follow: another gzip member (as `cat a.gz b.gz` makes) or garbage, which
      // inflate's header check rejects below.
      inflateReset(&zs);
      later_member = true;
      continue;
    }
    if (rc == Z_OK) continue;
    if (later_member) throw_file_error(path, "unexpected bytes after the end of the gzip stream");
    if (rc == Z_BUF_ERROR && input_done) throw_file_error(path, "truncated gzip stream (the compressed data ends early)");
    if (rc == Z_MEM_ERROR) throw_file_error(path, "out of memory while decompressing");
    throw_file_error(path, std::string("corrupt gzip data (") + (zs.msg ? zs.msg : "zlib error " + std::to_string(rc)) +
                               ")");
  }
}

// Checks the IDX header in `head` (the first bytes of a file of `total` bytes, at least the whole
// header if the file has one) and returns the dims and the header length.
Shape parse_header(const std::string& path, const unsigned char* head, uint64_t avail, uint64_t total, int ndims,
                   uint64_t* header_bytes) {
  uint32_t want = magic_for(ndims);
  if (total < 4) throw_file_error(path, "too short for an IDX file (" + std::to_string(total) + " bytes)");
  uint32_t magic = uint32_t(head[0]) << 24 | uint32_t(head[1]) << 16 | uint32_t(head[2]) << 8 | head[3];
  if (head[0] != 0 || head[1] != 0)
    throw_file_error(path, "not an IDX file: magic " + hex(magic, 8) + ", expected " + hex(want, 8));
  if (head[2] != 0x08)
    throw_file_error(path, "IDX element type " + hex(head[2], 2) + " is not unsigned byte (0x08)");
  if (head[3] != ndims)
    throw_file_error(path, "IDX magic " + hex(magic, 8) + " means " + kind_of(head[3]) + " with " +
                               std::to_string(head[3]) + " dimension(s); expected " + hex(want, 8) + " (" +
                               kind_of(ndims) + ")");
  *header_bytes = 4 + 4 * uint64_t(ndims);
  if (total < *header_bytes || avail < *header_bytes)
    throw_file_error(path, "truncated IDX header: needs " + std::to_string(*header_bytes) + " bytes, the file has " +
                               std::to_string(total));
  Shape dims(ndims);
  for (int i = 0; i < ndims; ++i) {
    const unsigned char* p = head + 4 + 4 * i;
    dims[i] = int64_t(uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]);
  }
  for (int i = 0; i < ndims; ++i) {
    if (dims[i] == 0) throw_file_error(path, "IDX size " + std::to_string(i) + " is 0 (sizes " + sizes_str(dims) + ")");
    // Image sides beyond 4096 are surely a corrupt header, not a picture.
    if (i > 0 && dims[i] > 4096)
      throw_file_error(path, "IDX size " + std::to_string(i) + " is " + std::to_string(dims[i]) +
                                 ", over the limit of 4096 (sizes " + sizes_str(dims) + ")");
  }
  // The element count, overflow-checked (only a first size can be large, but in principle there
  // are up to 255 sizes of 4096).
  uint64_t expected = 0;
  if (!checked_byte_size(dims, 1, &expected)) throw_file_error(path, "IDX sizes " + sizes_str(dims) + " overflow");
  uint64_t found = total - *header_bytes;
  if (found < expected)
    throw_file_error(path, "truncated IDX data: expected " + std::to_string(expected) + " bytes (" + sizes_str(dims) +
                               "), found " + std::to_string(found));
  if (found > expected)
    throw_file_error(path, std::to_string(found - expected) + " trailing byte(s) after the " + std::to_string(expected) +
                               " bytes of IDX data (" + sizes_str(dims) + ")");
  return dims;
}

}  // namespace

IdxArray read_idx_ubyte(const std::string& path, int ndims, uint64_t max_bytes) {
  InputFile f(path);
  IdxArray a;
  uint64_t header = 0;
  if (is_gzip(f)) {
    std::string all = gunzip(f, max_bytes);
    a.dims = parse_header(path, reinterpret_cast<const unsigned char*>(all.data()), all.size(), all.size(), ndims,
                          &header);
    all.erase(0, header);  // keep the one buffer: no second copy of the pixels
    a.bytes = std::move(all);
    return a;
  }
  if (f.size() > max_bytes)
    throw_file_error(path, "is " + std::to_string(f.size()) + " bytes, over the limit of " + std::to_string(max_bytes));
  // The header is validated against the file size before the data is read, so a header that
  // claims a huge N fails without allocating anything.
  unsigned char head[4 + 4 * 255];
  uint64_t avail = std::min<uint64_t>(f.size(), sizeof head);
  f.read(0, head, avail);
  a.dims = parse_header(path, head, avail, f.size(), ndims, &header);
  a.bytes.resize(f.size() - header);
  f.read(header, a.bytes.data(), a.bytes.size());
  return a;
}

static Tensor to_float(const IdxArray& a, const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  const uint8_t* src = a.data();
  float* dst = t.data();
  for (size_t i = 0; i < a.bytes.size(); ++i) dst[i] = src[i];
  return t;
}

Tensor load_idx_images(const std::string& path, uint64_t max_bytes) {
  IdxArray a = read_idx_ubyte(path, 3, max_bytes);
  return to_float(a, {a.dims[0], 1, a.dims[1], a.dims[2]});
}

Tensor load_idx_labels(const std::string& path, uint64_t max_bytes) {
  IdxArray a = read_idx_ubyte(path, 1, max_bytes);
  return to_float(a, {a.dims[0]});
}

}  // namespace fm
