// flow/loss_log.cpp
#include "flow/loss_log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "tensor/io/crash_point.h"

namespace fm {

namespace {
constexpr const char* kHeader = "step,loss,lr,grad_norm,seconds\n";
}

LossLog::LossLog(const std::string& path, int64_t every, int64_t start, const std::map<std::string, std::string>* saved)
    : path_(path), every_(every) {
  if (!saved) {
    f_ = std::fopen(path.c_str(), "w");
    if (!f_) throw std::runtime_error(path + ": cannot write: " + std::strerror(errno));
    std::setvbuf(f_, nullptr, _IONBF, 0);  // a row is one write (see add)
    if (std::fputs(kHeader, f_) < 0 || std::fflush(f_) != 0) throw std::runtime_error(path + ": write failed: " + std::strerror(errno));
    return;
  }
  loss_ = meta_f64(*saved, "log.loss");
  norm_ = meta_f64(*saved, "log.grad_norm");
  count_ = meta_i64(*saved, "log.count");
  seconds_before_ = meta_f64(*saved, "log.seconds");
  keep_loss_rows_until(path, start);
  f_ = std::fopen(path.c_str(), "a");
  if (!f_) throw std::runtime_error(path + ": cannot append: " + std::strerror(errno));
  std::setvbuf(f_, nullptr, _IONBF, 0);
}

LossLog::~LossLog() { close(); }

void LossLog::close() {
  if (f_) std::fclose(f_);
  f_ = nullptr;
}

void LossLog::add(int64_t step, const StepStats& s, bool last, double session_seconds) {
  loss_ += s.loss;
  norm_ += s.grad_norm;
  ++count_;
  if (step % every_ != 0 && !last) return;
  last_loss_ = loss_ / double(count_);
  char row[160];
  const int len = std::snprintf(row, sizeof row, "%lld,%.6f,%.6g,%.4f,%.3f\n", (long long)step, last_loss_, s.lr,
                                norm_ / double(count_), seconds_before_ + session_seconds);
  if (crash_due("loss.csv")) {  // the test hook (tensor/io/crash_point.h): a torn row, then SIGKILL
    std::fwrite(row, 1, size_t(len) / 2, f_);
    crash_now();
  }
  // The stream is unbuffered, so each row goes to the file at once (a run that dies keeps its
  // curve) in one write. A row that fails partway (a full disk) is cut off again and stops the run,
  // so loss.csv never ends in a torn row while fm lives to clean up; after a SIGKILL mid-row, a
  // resume drops the torn row (keep_loss_rows_until parses every row).
  struct stat st;
  const off_t before = ::fstat(::fileno(f_), &st) == 0 ? st.st_size : -1;
  if (len <= 0 || std::fputs(row, f_) < 0) {
    const int err = errno;
    std::clearerr(f_);
    const bool cut = before >= 0 && ::ftruncate(::fileno(f_), before) == 0;  // the torn row off again
    throw std::runtime_error(path_ + ": write failed: " + std::strerror(err) + (cut ? "" : " (its last row may be torn)"));
  }
  loss_ = norm_ = 0.0;
  count_ = 0;
}

std::map<std::string, std::string> LossLog::state(double session_seconds) const {
  return {{"log.loss", meta_number(loss_)},
          {"log.grad_norm", meta_number(norm_)},
          {"log.count", std::to_string(count_)},
          {"log.seconds", meta_number(seconds_before_ + session_seconds)}};
}

void keep_loss_rows_until(const std::string& path, int64_t step) {
  std::ifstream in(path);
  std::string line, kept = kHeader;
  if (in && std::getline(in, line))  // skip the header
    while (std::getline(in, line)) {
      int64_t row_step = 0;
      const char* first = line.c_str();
      auto [end, ec] = std::from_chars(first, first + line.size(), row_step);
      if (ec == std::errc() && end != first && *end == ',' && row_step <= step) kept += line + "\n";
    }
  in.close();
  std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::trunc);
  out << kept;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + tmp);
  std::filesystem::rename(tmp, path);
}

}  // namespace fm
