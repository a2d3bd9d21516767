// cuda/emulation/fiber.cpp: fiber stacks and the jump between contexts (see fiber.h).
#include "cuda/emulation/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "tensor/poison.h"  // FM_ASAN
#ifdef FM_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace fm_emu {

namespace {

// Large enough for a kernel's frames with the sanitizers' red zones; only touched pages are real.
constexpr size_t kStackBytes = size_t(256) << 10;

thread_local Fiber* left = nullptr;     // the context the latest jump suspended
thread_local Fiber* entered = nullptr;  // and the one it continued

}  // namespace

#if defined(__x86_64__)

// fm_emu_switch(&save, load): pushes the callee-saved registers (System V: rbp, rbx, r12-r15) on
// the current stack, stores the stack pointer in *save, makes `load` the stack pointer, pops the
// same registers from there and continues at the address on top of it. An indirect jump, not a
// `ret`: a return to an address the CPU did not call from would mispredict every time.
extern "C" void fm_emu_switch(void** save, void* load);
asm(R"(
  .text
  .p2align 4
  .globl fm_emu_switch
  .hidden fm_emu_switch
  .type fm_emu_switch, @function
fm_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  popq %r8
  jmpq *%r8
  .size fm_emu_switch, .-fm_emu_switch
  .section .note.GNU-stack,"",@progbits
  .text
)");

namespace {

// A new fiber's stack as fm_emu_switch leaves a suspended one: six zero registers, then start() as
// the address to continue at, above it a null "return address", so that start() begins with the
// stack aligned as after a call (rsp + 8 a multiple of 16).
void* initial_context(char* stack, size_t bytes, void (*start)()) {
  auto* top = reinterpret_cast<uint64_t*>((reinterpret_cast<uintptr_t>(stack + bytes)) & ~uintptr_t(15));
  *--top = 0;
  *--top = reinterpret_cast<uint64_t>(start);
  for (int r = 0; r < 6; ++r) *--top = 0;
  return top;
}
void switch_context(void** from, void* to) { fm_emu_switch(from, to); }
void free_context(void*) {}

}  // namespace

#else  // other hosts: ucontext (a system call per switch, correct everywhere)

namespace {
void* initial_context(char* stack, size_t bytes, void (*start)()) {
  auto* uc = new ucontext_t;
  getcontext(uc);
  uc->uc_stack.ss_sp = stack;
  uc->uc_stack.ss_size = bytes;
  uc->uc_link = nullptr;
  makecontext(uc, start, 0);
  return uc;
}
void switch_context(void** from, void* to) {
  if (!*from) *from = new ucontext_t;  // a host thread's context, made at its first jump
  swapcontext(static_cast<ucontext_t*>(*from), static_cast<ucontext_t*>(to));
}
void free_context(void* context) { delete static_cast<ucontext_t*>(context); }
}  // namespace

#endif

namespace {

// AddressSanitizer must know which stack runs: before a jump the one entered, after it the one
// left (whose bounds a host thread's context learns this way).
void start_switch(Fiber* from, Fiber* to, [[maybe_unused]] void** fake_stack, [[maybe_unused]] const void* bottom,
                  [[maybe_unused]] size_t size) {
  left = from, entered = to;
#ifdef FM_ASAN
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#endif
}

}  // namespace

void Fiber::jump(Fiber& from, Fiber& to) {
  start_switch(&from, &to, &from.fake_stack_, to.bottom_, to.size_);
  switch_context(&from.context_, to.context_);
#ifdef FM_ASAN
  Fiber* prev = left;
  __sanitizer_finish_switch_fiber(from.fake_stack_, &prev->bottom_, &prev->size_);
#endif
}

void Fiber::start() {
#ifdef FM_ASAN
  Fiber* prev = left;
  __sanitizer_finish_switch_fiber(nullptr, &prev->bottom_, &prev->size_);
#endif
  entered->entry_();
  std::fputs("fm cuda emulation: a fiber's entry returned\n", stderr);
  std::abort();
}

Fiber::Fiber(Entry entry) : entry_(entry), stack_bytes_(kStackBytes) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, stack_bytes_ + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  mprotect(p, page, PROT_NONE);  // a guard page below the stack: an overflow faults at once
  stack_ = static_cast<char*>(p) + page;
  bottom_ = stack_, size_ = stack_bytes_;
  context_ = initial_context(stack_, stack_bytes_, &Fiber::start);
}

Fiber::~Fiber() {
  free_context(context_);
  if (!stack_) return;
  // A fiber dropped mid-kernel (after a fault) leaves its frames' poison behind.
  fm::unpoison(stack_, stack_bytes_);
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  munmap(stack_ - page, stack_bytes_ + page);
}

}  // namespace fm_emu
