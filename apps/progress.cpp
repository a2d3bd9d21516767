// apps/progress.cpp: the stderr progress bar.
#include "apps/progress.h"

#include "dist/dist.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace fm {
namespace {

// h:mm:ss from an hour on, m:ss below.
std::string format_duration(double seconds) {
  long s = seconds > 0 && std::isfinite(seconds) ? std::lround(seconds) : 0;
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

// "45.2 it/s", or "3.20 s/it" when an item takes longer than a second.
std::string format_rate(double rate) {
  char buf[32];
  if (rate > 0 && rate < 1)
    std::snprintf(buf, sizeof buf, "%.2f s/it", 1.0 / rate);
  else
    std::snprintf(buf, sizeof buf, "%.1f it/s", rate);
  return buf;
}

// Columns of the terminal on stderr, or 0 if unknown.
size_t terminal_width() {
  winsize ws{};
  return ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
}

}  // namespace

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), tty_(isatty(STDERR_FILENO) == 1), start_(Clock::now()) {
  if (!tty_) last_draw_ = 0;  // the 30 s timer of plain lines starts now
  if (!tty_) last_decile_ = 0;
}

Progress::~Progress() {
  if (tty_ && drawn_width_ > 0 && !finished_) std::fputs("\n", stderr);  // don't leave the cursor mid-bar
}

double Progress::since(Clock::time_point t) const { return std::chrono::duration<double>(Clock::now() - t).count(); }

double Progress::elapsed() const { return since(start_); }

std::string Progress::line(int64_t done, const std::string& extra, double rate, const std::string& tail) const {
  char count[96];
  if (total_ > 0) {
    int digits = static_cast<int>(std::to_string(total_).size());
    double pct = 100.0 * static_cast<double>(done) / static_cast<double>(total_);
    std::snprintf(count, sizeof count, "%*lld/%lld %3d%%", digits, static_cast<long long>(done),
                  static_cast<long long>(total_), static_cast<int>(std::floor(pct)));
  } else {
    std::snprintf(count, sizeof count, "%lld", static_cast<long long>(done));
  }
  std::string s = " " + label_ + "  " + count;
  if (!extra.empty()) s += " | " + extra;
  if (rate >= 0) s += " | " + format_rate(rate);
  if (!tail.empty()) s += " | " + tail;
  return s;
}

void Progress::print(const std::string& body, bool final_line) {
  if (!dist::is_root()) return;  // under mpirun, rank 0 alone reports
  std::string out;
  if (tty_) {
    // Redraw in place: return to column 0, blank what a longer previous line left behind, and
    // stay within the terminal width (a wrapped line cannot be overwritten by '\r').
    std::string b = body;
    size_t cols = terminal_width();
    if (cols > 1 && b.size() > cols - 1) b.resize(cols - 1);
    out = "\r" + b;
    if (drawn_width_ > b.size()) out += std::string(drawn_width_ - b.size(), ' ');
    drawn_width_ = b.size();
    if (final_line) out += "\n";
  } else {
    out = body + "\n";
  }
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
}

void Progress::update(int64_t done, const std::string& extra) {
  if (finished_) return;
  done_ = done;
  double now = elapsed();

  // Smoothed rate: an exponential moving average of the throughput between samples taken at
  // least 0.1 s apart, with a ~3 s time constant (damps jitter, follows real speed changes).
  double dt = now - last_sample_;
  if (dt >= 0.1) {
    double inst = static_cast<double>(done - sample_done_) / dt;
    rate_ = rate_ < 0 ? inst : rate_ + (1.0 - std::exp(-dt / 3.0)) * (inst - rate_);
    last_sample_ = now;
    sample_done_ = done;
  }
  double rate = rate_ >= 0 ? rate_ : (now > 0 ? static_cast<double>(done) / now : -1);

  if (tty_) {
    if (last_draw_ >= 0 && now - last_draw_ < 0.1) return;  // at most 10 redraws a second
  } else {
    // Plain lines: one per 10% step of the total, or one per 30 s when progress is slow.
    int decile = total_ > 0 ? static_cast<int>(10 * done / total_) : -1;
    bool new_step = total_ > 0 && decile > last_decile_;
    if (!new_step && now - last_draw_ < 30.0) return;
    if (new_step) last_decile_ = decile;
  }
  last_draw_ = now;

  std::string eta;
  if (total_ > 0 && rate > 0 && done < total_)
    eta = "ETA " + format_duration(static_cast<double>(total_ - done) / rate);
  print(line(done, extra, rate, eta), false);
}

void Progress::finish(const std::string& extra) {
  if (finished_) return;
  finished_ = true;
  double t = elapsed();
  double rate = t > 0 ? static_cast<double>(done_) / t : -1;  // the average over the whole run
  print(line(done_, extra, rate, "done in " + format_duration(t)), true);
}

}  // namespace fm
