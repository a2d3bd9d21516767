// flow/interrupt.cpp
#include "flow/interrupt.h"

#include <atomic>
#include <csignal>
#include <cstring>
#include <unistd.h>

namespace fm {

namespace {

std::atomic<int> g_requested{0};
struct sigaction g_old_int, g_old_term;

// Async-signal-safe: an atomic store, or write(2) and _exit.
void on_signal(int sig) {
  if (g_requested.load() != 0 && sig == SIGINT) {
    static const char msg[] = "\nfm: second interrupt: exiting now; the last checkpoint is intact\n";
    [[maybe_unused]] ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(130);
  }
  int none = 0;
  g_requested.compare_exchange_strong(none, sig);
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_requested = 0;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int interrupt_requested() { return g_requested.load(); }

}  // namespace fm
