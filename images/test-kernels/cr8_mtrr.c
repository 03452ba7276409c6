/* cr8_mtrr: MOV to/from CR8 in 64-bit mode is the local APIC's TPR[7:4] (SDM Vol. 3A §10.8.6.1),
   seen from both sides; the MTRRs (SDM Vol. 3A §11.11) report their capabilities and keep what is
   written to them. QEMU 7.2 TCG accepts any value in an MTRR (no #GP for reserved bits or
   undefined types), so only valid values are written here; the #GP cases are unit-tested. */
#include "lib.h"

#define APIC 0xfee00000u
static inline u32 ar(u32 reg) { return *(volatile u32 *)(APIC + reg); }
static inline void aw(u32 reg, u32 v) { *(volatile u32 *)(APIC + reg) = v; }
static inline void wrmsr64(u32 msr, u64 v) { asm volatile("wrmsr" :: "c"(msr), "a"((u32)v), "d"((u32)(v >> 32))); }

void cr8_tests(void);

static void mtrr(const char *name, u32 msr, u64 v)
{
    wrmsr64(msr, v);
    printf("%s wrote %016llx read %016llx\n", name, v, rdmsr(msr));
}

void kmain(void)
{
    aw(0x80, 0x7c);                  /* TPR: class 7, sub-class c */
    run_long(cr8_tests);             /* reads CR8, writes 3, reads it back, leaves 0xb */
    printf("apic tpr after cr8=b: %08x\n", ar(0x80));
    aw(0x80, 0);

    printf("mtrrcap=%016llx\n", rdmsr(0xfe));
    mtrr("def_type", 0x2ff, 0xc06);
    mtrr("fix64k_00000", 0x250, 0x0606060606060606ull);
    mtrr("fix16k_80000", 0x258, 0x0606060606060606ull);
    mtrr("fix16k_a0000", 0x259, 0x0000000000000000ull);
    mtrr("fix4k_c0000", 0x268, 0x0505050505050505ull);
    mtrr("fix4k_f8000", 0x26f, 0x0504010006050401ull);
    mtrr("physbase0", 0x200, 0x0000000000000006ull);
    mtrr("physmask0", 0x201, 0x000000fffc000800ull);
    mtrr("physbase7", 0x20e, 0x00000000e0000001ull);
    mtrr("physmask7", 0x20f, 0x000000fff0000800ull);
    mtrr("def_type", 0x2ff, 0x000);
}
