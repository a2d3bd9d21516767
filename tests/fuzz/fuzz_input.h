// tests/fuzz/fuzz_input.h: what the fuzz targets share (libFuzzer; built with -Dfuzz=enabled).
//
// The project's readers take paths, as fm does, so each input is written to a file of this
// process's own and read back from there. A reader's exception is the expected answer to a bad
// file; a finding is anything else: a crash, an AddressSanitizer or UBSan report, an allocation
// beyond libFuzzer's -malloc_limit_mb (a header that asks for gigabytes), a timeout (a hang).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

namespace fm::fuzz {

// A folder of this process's own under the temporary directory, made once.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path d = std::filesystem::temp_directory_path() / ("fm_fuzz_" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// Writes the input to scratch_dir()/name (replacing it) and returns the path.
inline std::string input_file(const uint8_t* data, size_t size, const std::string& name) {
  const std::filesystem::path p = scratch_dir() / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return p.string();
}

// Runs f; an exception (the reader refusing the input) is a correct outcome.
template <class F>
void refusal_allowed(const F& f) {
  try {
    f();
  } catch (const std::exception&) {
  }
}

// An invariant the target checks itself: abort, so libFuzzer keeps the input.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace fm::fuzz
