// cuda/emulation/fiber.h: the cooperative fibers that the emulated GPU's threads run on. A fiber
// has its own stack; jump(from, to) suspends the running context and continues another where it
// stopped. On x86-64 a jump saves six registers and swaps the stack pointer, with no system call
// (swapcontext makes one per switch, to save the signal mask); other hosts use ucontext. Fibers
// leave the FP environment alone (rounding mode, exception masks): kernels never change it. Under
// AddressSanitizer every jump is announced to it, or it would report the fibers' frames as errors.
#pragma once
#include <cstddef>

namespace fm_emu {

class Fiber {
 public:
  using Entry = void (*)();
  // A fiber of its own stack that will call entry() when first jumped to; entry never returns.
  explicit Fiber(Entry entry);
  // The calling host thread's own context, to jump from into fibers and back.
  Fiber() = default;
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Suspends `from`, the context that runs now, and continues `to`.
  static void jump(Fiber& from, Fiber& to);

 private:
  static void start();  // the first frame of every fiber: finishes the jump, calls entry_

  Entry entry_ = nullptr;
  char* stack_ = nullptr;  // stack_bytes_ of memory above a guard page (null: a host thread's)
  size_t stack_bytes_ = 0;
  void* context_ = nullptr;  // the saved state while suspended
  // AddressSanitizer's view of this context: its fake stack while suspended, its stack's bounds
  // (learned at the first jump away, for a host thread).
  void* fake_stack_ = nullptr;
  const void* bottom_ = nullptr;
  size_t size_ = 0;
};

}  // namespace fm_emu
