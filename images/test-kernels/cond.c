/* cond: Jcc (rel8 and rel32), SETcc and CMOVcc (reg and mem) for all 16
   conditions over every combination of CF/PF/ZF/SF/OF; LOOP/LOOPE/LOOPNE,
   JCXZ/JECXZ incl. the 16-bit address-size (CX) variants. Each line is a
   bit mask, bit 15 = O, ..., bit 0 = G (condition order of the SDM table). */
#include "lib.h"

#define CONDS "o,no,b,ae,e,ne,be,a,s,ns,p,np,l,ge,le,g"

static u32 jcc8(u32 fl)
{
    u32 m;
    asm volatile("xorl %0, %0\n\t.irp cc," CONDS "\n\tpushl %1\n\tpopfl\n\tj\\cc 1f\n\t"
                 "shll $1, %0\n\tjmp 2f\n1:\tshll $1, %0\n\torl $1, %0\n2:\n\t.endr"
                 : "=&r"(m) : "r"(fl) : "cc");
    return m;
}

static u32 jcc32(u32 fl)
{
    u32 m;
    /* 130 bytes of padding force the 0F 8x rel32 encoding */
    asm volatile("xorl %0, %0\n\t.irp cc," CONDS "\n\tpushl %1\n\tpopfl\n\tj\\cc 1f\n\t"
                 "shll $1, %0\n\tjmp 2f\n\t.fill 130, 1, 0x90\n1:\tshll $1, %0\n\torl $1, %0\n2:\n\t.endr"
                 : "=&r"(m) : "r"(fl) : "cc");
    return m;
}

static u32 setcc(u32 fl)
{
    u32 m, t;
    asm volatile("xorl %0, %0\n\t.irp cc," CONDS "\n\tpushl %2\n\tpopfl\n\tmovl $0xffffff00, %1\n\t"
                 "set\\cc %b1\n\tshll $1, %0\n\taddl %1, %0\n\taddl $0x100, %0\n\t.endr"
                 : "=&r"(m), "=&q"(t) : "r"(fl) : "cc");
    return m;
}

static u32 cmovcc(u32 fl, int mem)
{
    u32 m, t;
    static const u32 one = 1;
    if (mem)
        asm volatile("xorl %0, %0\n\t.irp cc," CONDS "\n\txorl %1, %1\n\tpushl %2\n\tpopfl\n\t"
                     "cmov\\cc %3, %1\n\tshll $1, %0\n\torl %1, %0\n\t.endr"
                     : "=&r"(m), "=&r"(t) : "r"(fl), "m"(one) : "cc");
    else
        asm volatile("xorl %0, %0\n\t.irp cc," CONDS "\n\txorl %1, %1\n\tpushl %2\n\tpopfl\n\t"
                     "cmov\\cc %w3, %w1\n\tshll $1, %0\n\torl %1, %0\n\t.endr"
                     : "=&r"(m), "=&r"(t) : "r"(fl), "r"(one) : "cc");
    return m;
}

static void loops(u32 ecx, u32 zfpattern, int all)
{
    /* count iterations; ZF for LOOPE/LOOPNE comes from bit i of zfpattern */
    u32 n, c;
    if (all) {
    asm volatile("xorl %0, %0\n1:\tincl %0\n\tloop 1b" : "=&r"(n), "=c"(c) : "1"(ecx) : "cc");
    printf("loop ecx=%x -> iters=%u ecx=%x\n", ecx, n, c);
    }
    asm volatile("xorl %0, %0\n1:\tincl %0\n\tbtl %0, %3\n\tcmc\n\tsbbl %%eax, %%eax\n\tcmpl $0, %%eax\n\tloope 1b"
                 : "=&r"(n), "=c"(c) : "1"(ecx), "r"(zfpattern) : "eax", "cc");
    printf("loope ecx=%x pat=%x -> iters=%u ecx=%x\n", ecx, zfpattern, n, c);
    asm volatile("xorl %0, %0\n1:\tincl %0\n\tbtl %0, %3\n\tcmc\n\tsbbl %%eax, %%eax\n\tcmpl $0, %%eax\n\tloopne 1b"
                 : "=&r"(n), "=c"(c) : "1"(ecx), "r"(zfpattern) : "eax", "cc");
    printf("loopne ecx=%x pat=%x -> iters=%u ecx=%x\n", ecx, zfpattern, n, c);
    /* 0x67: LOOP counts in CX, upper half of ECX untouched */
    asm volatile("xorl %0, %0\n1:\tincl %0\n\t.byte 0x67\n\tloop 1b" : "=&r"(n), "=c"(c) : "1"(ecx) : "cc");
    printf("addr16 loop ecx=%x -> iters=%u ecx=%x\n", ecx, n, c);
    asm volatile("movl $1, %0\n\tjecxz 1f\n\tmovl $0, %0\n1:" : "=&r"(n) : "c"(ecx));
    printf("jecxz ecx=%x -> %u", ecx, n);
    asm volatile("movl $1, %0\n\t.byte 0x67\n\tjecxz 1f\n\tmovl $0, %0\n1:" : "=&r"(n) : "c"(ecx));
    printf(" jcxz -> %u\n", n);
}

void kmain(void)
{
    puts("flags  jcc8 jcc32 setcc cmov16 cmovm\n");
    for (u32 i = 0; i < 32; i++) {
        u32 fl = 2 | (i & 1 ? FL_CF : 0) | (i & 2 ? FL_PF : 0) | (i & 4 ? FL_ZF : 0)
                   | (i & 8 ? FL_SF : 0) | (i & 16 ? FL_OF : 0);
        printf("%03x   %04x %04x %04x %04x %04x\n", fl, jcc8(fl), jcc32(fl), setcc(fl), cmovcc(fl, 0), cmovcc(fl, 1));
    }
    /* all=0: LOOP/LOOPE would run 2^32 times, only the early exits are run */
    loops(3, 0, 1); loops(3, 0xfe, 1); loops(3, 0xfa, 1); loops(1, 0xff, 1);
    loops(0, 0xfffffffe, 0); loops(0x10002, 0x0, 1);
    loops(0x20000, 0, 1); loops(0x12340000, 0xfffffffe, 0);
}
