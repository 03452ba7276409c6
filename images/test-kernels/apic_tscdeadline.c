/* apic_tscdeadline: the local APIC timer's TSC-deadline mode (SDM Vol. 3A §10.5.4.1): the mode is
   selected in LVT timer bits 18:17 = 10b, IA32_TSC_DEADLINE (6E0H) arms it, the interrupt comes
   once the TSC passes the deadline and disarms it (the MSR reads 0 again), writing 0 disarms, a
   deadline in the past fires at once, and the initial-count register is ignored in this mode.
   QEMU 7.2 TCG has no TSC-deadline timer ("TCG doesn't support requested feature"), so this
   kernel checks the SDM's rules itself and is run in tsemu alone.
   QEMU-SKIP: QEMU 7.2 TCG lacks the TSC-deadline timer */
#include "lib.h"

#define APIC 0xfee00000u
#define MSR_TSC_DEADLINE 0x6e0
static inline u32 ar(u32 reg) { return *(volatile u32 *)(APIC + reg); }
static inline void aw(u32 reg, u32 v) { *(volatile u32 *)(APIC + reg) = v; }
static inline void wrmsr64(u32 msr, u64 v) { asm volatile("wrmsr" :: "c"(msr), "a"((u32)v), "d"((u32)(v >> 32))); }
static inline u64 rdtsc(void) { u32 lo, hi; asm volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((u64)hi << 32) | lo; }

static volatile u32 hits, got_vec;

#define CHECK(cond) do { if (!(cond)) fail("check failed: " #cond); } while (0)
static volatile u64 tsc_at_irq;

static void timer_irq(struct frame *f)
{
    tsc_at_irq = rdtsc();
    hits++;
    got_vec = f->vec;
    aw(0xb0, 0);
}

void kmain(void)
{
    handlers[0x44] = timer_irq;
    aw(0xf0, 0x1ff);
    aw(0x320, 0x40044);                       /* TSC-deadline mode, vector 0x44 */
    CHECK(ar(0x320) == 0x40044);
    CHECK(rdmsr(MSR_TSC_DEADLINE) == 0);

    /* A deadline 2,000,000 ticks ahead: no interrupt before it, one after, then disarmed. */
    u64 deadline = rdtsc() + 2000000;
    wrmsr64(MSR_TSC_DEADLINE, deadline);
    CHECK(rdmsr(MSR_TSC_DEADLINE) == deadline);
    CHECK(hits == 0);
    while (!hits)
        asm volatile("sti; hlt; cli" ::: "memory");
    CHECK(got_vec == 0x44);
    CHECK(tsc_at_irq >= deadline);
    CHECK(rdmsr(MSR_TSC_DEADLINE) == 0);
    puts("fired after the deadline, then disarmed\n");

    /* Writing 0 disarms: nothing arrives during a wait well past the old deadline. */
    hits = 0;
    wrmsr64(MSR_TSC_DEADLINE, rdtsc() + 1000000);
    wrmsr64(MSR_TSC_DEADLINE, 0);
    u64 until = rdtsc() + 5000000;
    asm volatile("sti" ::: "memory");
    while (rdtsc() < until)
        asm volatile("pause");
    asm volatile("cli" ::: "memory");
    CHECK(hits == 0);
    puts("writing 0 disarms\n");

    /* A deadline in the past fires at once. */
    wrmsr64(MSR_TSC_DEADLINE, 1);
    asm volatile("sti; nop; nop; nop; cli" ::: "memory");
    while (!hits)
        asm volatile("sti; hlt; cli" ::: "memory");
    CHECK(hits == 1 && got_vec == 0x44);
    puts("a past deadline fires at once\n");

    /* The initial count does nothing in this mode. */
    hits = 0;
    aw(0x380, 1000);
    until = rdtsc() + 3000000;
    asm volatile("sti" ::: "memory");
    while (rdtsc() < until)
        asm volatile("pause");
    asm volatile("cli" ::: "memory");
    CHECK(hits == 0);
    puts("the initial count is ignored\n");

    /* Leaving the mode disarms the deadline. */
    wrmsr64(MSR_TSC_DEADLINE, rdtsc() + 1000000);
    aw(0x320, 0x10044);
    CHECK(rdmsr(MSR_TSC_DEADLINE) == 0);
    puts("leaving the mode disarms\n");
}
