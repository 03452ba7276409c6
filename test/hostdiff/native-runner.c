// Native side of the host-differential CPU test (see test/cpu-hostdiff.test.ts).
// Runs a stream of test cases on the host CPU in user mode and writes the final state.
//
// Input (stdin, little endian), repeated until EOF:
//   u32 codeLen, u32 memSeed, u64 gpr[16] (x86 encoding order), u64 rflags, u8 code[codeLen]
// Output (stdout), one record per case:
//   u32 status (0 = ran to the end, 1 = exception), u32 vector,
//   u64 gpr[16], u64 rflags, u64 rip (end of code, or the faulting instruction),
//   u32 nDiff, u32 diff[nDiff] (offset << 8 | new byte) for every scratch byte that changed.
// Memory layout (identical in tsemu): code at CODE_ADDR, one scratch page at DATA_ADDR whose
// initial content is fill_scratch(memSeed); the generator keeps every access inside it.
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_ADDR 0x100000UL
#define DATA_ADDR 0x200000UL
#define DATA_SIZE 4096
#define MAX_CODE (4096 - 16)

// Guest register images, used by the asm below: 16 GPRs then RFLAGS.
uint64_t hd_in[17], hd_out[17], hd_host_rsp, hd_entry = CODE_ADDR;
void hd_run_guest(void);
void hd_guest_exit(void);

// hd_run_guest saves the callee-saved registers and RSP, loads RFLAGS (popfq on the host
// stack) and then all 16 GPRs (RSP last; mov does not touch flags) and jumps to the code.
// The code ends with `jmp [rip+0]` to hd_guest_exit, which stores the GPRs, switches back
// to the host stack, stores RFLAGS via pushfq and returns to C.
__asm__(
    ".text\n"
    ".globl hd_run_guest\n"
    "hd_run_guest:\n"
    "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
    "  mov %rsp, hd_host_rsp(%rip)\n"
    "  pushq hd_in+128(%rip)\n  popfq\n"
    "  mov hd_in+0(%rip), %rax\n  mov hd_in+8(%rip), %rcx\n  mov hd_in+16(%rip), %rdx\n"
    "  mov hd_in+24(%rip), %rbx\n  mov hd_in+40(%rip), %rbp\n  mov hd_in+48(%rip), %rsi\n"
    "  mov hd_in+56(%rip), %rdi\n  mov hd_in+64(%rip), %r8\n  mov hd_in+72(%rip), %r9\n"
    "  mov hd_in+80(%rip), %r10\n  mov hd_in+88(%rip), %r11\n  mov hd_in+96(%rip), %r12\n"
    "  mov hd_in+104(%rip), %r13\n  mov hd_in+112(%rip), %r14\n  mov hd_in+120(%rip), %r15\n"
    "  mov hd_in+32(%rip), %rsp\n"
    "  jmp *hd_entry(%rip)\n"
    ".globl hd_guest_exit\n"
    "hd_guest_exit:\n"
    "  mov %rax, hd_out+0(%rip)\n  mov %rcx, hd_out+8(%rip)\n  mov %rdx, hd_out+16(%rip)\n"
    "  mov %rbx, hd_out+24(%rip)\n  mov %rsp, hd_out+32(%rip)\n  mov %rbp, hd_out+40(%rip)\n"
    "  mov %rsi, hd_out+48(%rip)\n  mov %rdi, hd_out+56(%rip)\n  mov %r8, hd_out+64(%rip)\n"
    "  mov %r9, hd_out+72(%rip)\n  mov %r10, hd_out+80(%rip)\n  mov %r11, hd_out+88(%rip)\n"
    "  mov %r12, hd_out+96(%rip)\n  mov %r13, hd_out+104(%rip)\n  mov %r14, hd_out+112(%rip)\n"
    "  mov %r15, hd_out+120(%rip)\n"
    "  mov hd_host_rsp(%rip), %rsp\n"
    "  pushfq\n  pop %rax\n  mov %rax, hd_out+128(%rip)\n"
    "  cld\n" // the SysV ABI requires DF = 0 in C code
    "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n"
    "  ret\n");

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t in_guest;
static uint64_t fault_regs[18]; // 16 GPRs, RFLAGS, RIP
static uint32_t fault_vector;

// Map the signal Linux sends for a user-mode exception back to the vector (SDM Vol. 3 table 6-1).
static uint32_t signal_vector(int sig, const siginfo_t *si) {
  switch (sig) {
  case SIGFPE: return 0;  // #DE: divide by zero or quotient overflow
  case SIGTRAP: return si->si_code == SI_KERNEL ? 3 : 1;
  case SIGILL: return 6;  // #UD
  case SIGBUS: return 12; // #SS (non-canonical stack access)
  case SIGSEGV: return si->si_code == SI_KERNEL ? 13 : 14; // #GP has no fault address
  default: return 255;
  }
}

static void on_fault(int sig, siginfo_t *si, void *ctxp) {
  ucontext_t *uc = (ucontext_t *)ctxp;
  greg_t *g = uc->uc_mcontext.gregs;
  uint64_t rip = (uint64_t)g[REG_RIP];
  if (!in_guest || rip < CODE_ADDR || rip >= CODE_ADDR + 4096) {
    // A bug in the runner itself: die loudly.
    signal(sig, SIG_DFL);
    return;
  }
  static const int order[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
                                REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                REG_R12, REG_R13, REG_R14, REG_R15};
  for (int i = 0; i < 16; i++) fault_regs[i] = (uint64_t)g[order[i]];
  fault_regs[16] = (uint64_t)g[REG_EFL];
  fault_regs[17] = rip;
  fault_vector = signal_vector(sig, si);
  siglongjmp(fault_jmp, 1);
}

// Scratch fill: splitmix32 stream, two draws per dword; some dwords 0 or ~0 so that
// zero sources and equal compares happen. tsemu-side.ts has the same function.
static uint32_t mix_state;
static uint32_t mix32(void) {
  uint32_t z = (mix_state += 0x9E3779B9u);
  z = (z ^ (z >> 16)) * 0x85EBCA6Bu;
  z = (z ^ (z >> 13)) * 0xC2B2AE35u;
  return z ^ (z >> 16);
}
static void fill_scratch(uint32_t seed, uint8_t *p) {
  mix_state = seed;
  for (int i = 0; i < DATA_SIZE; i += 4) {
    uint32_t v = mix32(), t = mix32() >> 28;
    if (t == 0) v = 0;
    else if (t == 1) v = 0xFFFFFFFFu;
    memcpy(p + i, &v, 4);
  }
}

static void *map_fixed(uint64_t addr, int prot) {
  void *p = mmap((void *)addr, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p != (void *)addr) {
    fprintf(stderr, "native-runner: cannot map 0x%lx (check /proc/sys/vm/mmap_min_addr)\n",
            (unsigned long)addr);
    exit(2);
  }
  return p;
}

static int read_all(void *buf, size_t n) {
  size_t got = fread(buf, 1, n, stdin);
  if (got == 0 && n != 0) return 0;
  if (got != n) {
    fprintf(stderr, "native-runner: truncated input\n");
    exit(2);
  }
  return 1;
}

int main(void) {
  uint8_t *code = map_fixed(CODE_ADDR, PROT_READ | PROT_WRITE | PROT_EXEC);
  uint8_t *data = map_fixed(DATA_ADDR, PROT_READ | PROT_WRITE);
  static uint8_t init[DATA_SIZE];

  // The guest RSP points into the scratch page, so signals must use their own stack.
  static uint8_t altstack[65536];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  // SA_NODEFER: we leave the handler with siglongjmp(…, savemask=0), so the signal must not stay blocked.
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);

  static char outbuf[1 << 20];
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
  uint64_t exit_addr = (uint64_t)(uintptr_t)hd_guest_exit;

  for (;;) {
    uint32_t hdr[2];
    if (!read_all(hdr, sizeof hdr)) break;
    uint32_t len = hdr[0], seed = hdr[1];
    if (len > MAX_CODE) {
      fprintf(stderr, "native-runner: code too long (%u)\n", len);
      return 2;
    }
    read_all(hd_in, sizeof hd_in);
    read_all(code, len);
    // jmp qword [rip+0]; dq hd_guest_exit — no flags or registers touched.
    static const uint8_t jmp[6] = {0xFF, 0x25, 0, 0, 0, 0};
    memcpy(code + len, jmp, 6);
    memcpy(code + len + 6, &exit_addr, 8);
    fill_scratch(seed, init);
    memcpy(data, init, DATA_SIZE);

    uint32_t status = 0, vector = 0;
    uint64_t regs[18];
    if (sigsetjmp(fault_jmp, 0) == 0) {
      in_guest = 1;
      hd_run_guest();
      in_guest = 0;
      memcpy(regs, hd_out, 17 * 8);
      regs[17] = CODE_ADDR + len;
    } else {
      in_guest = 0;
      status = 1;
      vector = fault_vector;
      memcpy(regs, fault_regs, sizeof regs);
    }
    fwrite(&status, 4, 1, stdout);
    fwrite(&vector, 4, 1, stdout);
    fwrite(regs, 8, 18, stdout);
    uint32_t ndiff = 0;
    for (int i = 0; i < DATA_SIZE; i++) ndiff += data[i] != init[i];
    fwrite(&ndiff, 4, 1, stdout);
    for (int i = 0; i < DATA_SIZE; i++) {
      if (data[i] != init[i]) {
        uint32_t d = (uint32_t)i << 8 | data[i];
        fwrite(&d, 4, 1, stdout);
      }
    }
  }
  fflush(stdout);
  return 0;
}
