/* muldiv: MUL/IMUL in all forms and DIV/IDIV including #DE (divide by zero
   and quotient overflow). Only CF/OF are defined after MUL/IMUL; no flag is
   defined after DIV/IDIV (SDM Vol.2 MUL, IMUL, DIV, IDIV). */
#include "lib.h"

#define MF (FL_CF | FL_OF)
static const u32 vals[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678 };
#define NV (sizeof(vals) / sizeof(vals[0]))

static void one_op(u32 a, u32 b)
{
    u32 lo, hi, f;
    /* 8-bit: AX = AL * r/m8 */
    lo = a;
    asm volatile("mulb %b3; pushfl; popl %1" : "+a"(lo), "=r"(f), "=d"(hi) : "q"(b) : "cc");
    printf("mul8 %x*%x ax=%04x f=%03x\n", a & 0xff, b & 0xff, lo & 0xffff, f & MF);
    lo = a;
    asm volatile("imulb %b3; pushfl; popl %1" : "+a"(lo), "=r"(f), "=d"(hi) : "q"(b) : "cc");
    printf("imul8 %x*%x ax=%04x f=%03x\n", a & 0xff, b & 0xff, lo & 0xffff, f & MF);
    lo = a; hi = 0xdead;
    asm volatile("mulw %w3; pushfl; popl %1" : "+a"(lo), "=r"(f), "+d"(hi) : "r"(b) : "cc");
    printf("mul16 %x*%x dx:ax=%04x:%04x f=%03x\n", a & 0xffff, b & 0xffff, hi & 0xffff, lo & 0xffff, f & MF);
    lo = a; hi = 0xdead;
    asm volatile("imulw %w3; pushfl; popl %1" : "+a"(lo), "=r"(f), "+d"(hi) : "r"(b) : "cc");
    printf("imul16 %x*%x dx:ax=%04x:%04x f=%03x\n", a & 0xffff, b & 0xffff, hi & 0xffff, lo & 0xffff, f & MF);
    lo = a;
    asm volatile("mull %3; pushfl; popl %1" : "+a"(lo), "=r"(f), "=d"(hi) : "r"(b) : "cc");
    printf("mul32 %x*%x edx:eax=%08x:%08x f=%03x\n", a, b, hi, lo, f & MF);
    lo = a;
    asm volatile("imull %3; pushfl; popl %1" : "+a"(lo), "=r"(f), "=d"(hi) : "r"(b) : "cc");
    printf("imul32 %x*%x edx:eax=%08x:%08x f=%03x\n", a, b, hi, lo, f & MF);
    /* two- and three-operand forms */
    u32 r = a;
    asm volatile("imulw %w2, %w0; pushfl; popl %1" : "+r"(r), "=r"(f) : "r"(b) : "cc");
    printf("imul r16 %x*%x -> %04x f=%03x\n", a & 0xffff, b & 0xffff, r & 0xffff, f & MF);
    r = a;
    asm volatile("imull %2, %0; pushfl; popl %1" : "+r"(r), "=r"(f) : "m"(b) : "cc");
    printf("imul r32,m %x*%x -> %08x f=%03x\n", a, b, r, f & MF);
    asm volatile("imull $-3, %2, %0; pushfl; popl %1" : "=r"(r), "=r"(f) : "r"(a) : "cc");
    printf("imul r32,imm8(-3) %x -> %08x f=%03x\n", a, r, f & MF);
    asm volatile("imull $0x10001, %2, %0; pushfl; popl %1" : "=r"(r), "=r"(f) : "r"(a) : "cc");
    printf("imul r32,imm32(10001) %x -> %08x f=%03x\n", a, r, f & MF);
    r = 0xabcd0000;
    asm volatile("imulw $0x7fff, %w2, %w0; pushfl; popl %1" : "+r"(r), "=r"(f) : "r"(a) : "cc");
    printf("imul r16,imm16(7fff) %x -> %08x f=%03x\n", a & 0xffff, r, f & MF);
}

static void divs(u32 hi, u32 lo, u32 d)
{
    u32 q = lo, rem = hi;
    printf("div32 %08x:%08x/%x", hi, lo, d);
    TRY("divl %2", : "+a"(q), "+d"(rem) : "r"(d) : "cc");
    if (last_vec == 0xff) printf("  q=%08x r=%08x\n", q, rem);
    q = lo; rem = hi;
    printf("idiv32 %08x:%08x/%x", hi, lo, d);
    TRY("idivl %2", : "+a"(q), "+d"(rem) : "r"(d) : "cc");
    if (last_vec == 0xff) printf("  q=%08x r=%08x\n", q, rem);
    q = (hi << 16) | (lo & 0xffff); rem = hi >> 16;
    printf("div16 %04x:%04x/%x", rem & 0xffff, q & 0xffff, d & 0xffff);
    TRY("divw %w2", : "+a"(q), "+d"(rem) : "r"(d) : "cc");
    if (last_vec == 0xff) printf("  q=%04x r=%04x\n", q & 0xffff, rem & 0xffff);
    q = (hi << 16) | (lo & 0xffff); rem = hi >> 16;
    printf("idiv16 %04x:%04x/%x", rem & 0xffff, q & 0xffff, d & 0xffff);
    TRY("idivw %w2", : "+a"(q), "+d"(rem) : "r"(d) : "cc");
    if (last_vec == 0xff) printf("  q=%04x r=%04x\n", q & 0xffff, rem & 0xffff);
    q = lo;
    printf("div8 %04x/%x", q & 0xffff, d & 0xff);
    TRY("divb %b1", : "+a"(q) : "q"(d) : "cc");
    if (last_vec == 0xff) printf("  ax=%04x\n", q & 0xffff);
    q = lo;
    printf("idiv8 %04x/%x", q & 0xffff, d & 0xff);
    TRY("idivb %b1", : "+a"(q) : "q"(d) : "cc");
    if (last_vec == 0xff) printf("  ax=%04x\n", q & 0xffff);
}

void kmain(void)
{
    exc_quiet = 1;
    for (u32 i = 0; i < NV; i++)
        for (u32 j = 0; j < NV; j++)
            one_op(vals[i], vals[j]);
    static const u32 dv[][3] = {
        { 0, 100, 7 }, { 0, 100, 0 }, { 0, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xfffffff9, 2 },
        { 0xffffffff, 0x80000000, 0xffffffff }, { 0xffffffff, 0xffffff00, 0xfffffff0 },
        { 1, 0, 1 }, { 1, 0, 2 }, { 0, 0x7fff, 0xffff }, { 0xffff, 0x8000, 0xffffffff },
        { 0x7fff, 0xffff, 0x7fff }, { 0, 0xff80, 0xff }, { 0, 0x8000, 0x80 }, { 0, 0xfff9, 0xfffffffe },
        { 0x80000000, 0, 0x80000000 }, { 0x3fffffff, 0xffffffff, 0x7fffffff },
        { 0xc0000000, 0, 0x80000000 }, { 0, 0x1234, 0x10 },
    };
    for (u32 i = 0; i < sizeof(dv) / sizeof(dv[0]); i++)
        divs(dv[i][0], dv[i][1], dv[i][2]);
    /* #DE is a fault: the saved EIP points at the DIV itself (SDM Vol.3 6.15) */
    exc_quiet = 0;
    u32 z = 0;
    TRY("xorl %%edx, %%edx; movl $5, %%eax; divl %0", :: "r"(z) : "eax", "edx", "cc");
}
