/* datamov: XCHG/XADD/CMPXCHG/CMPXCHG8B, LEA with every 32- and 16-bit
   addressing form, MOVSX/MOVZX, XLAT, CBW/CWDE/CWD/CDQ, LAHF/SAHF and the
   BCD adjusts. BCD flags are masked to the defined ones (SDM Vol.2 DAA: OF
   undefined; AAA/AAS: only AF/CF; AAM/AAD: only SF/ZF/PF). */
#include "lib.h"

static void lea_tests(void)
{
    u32 r[16];
    asm volatile(
        "pushl %%ebp\n\t"
        "movl $0x1000, %%eax\n\tmovl $0x20, %%ebx\n\tmovl $0x300, %%ecx\n\tmovl $0x4000, %%edx\n\t"
        "movl $0x50000, %%esi\n\tmovl $0x600000, %%edi\n\tmovl $0x7000000, %%ebp\n\t"
        "leal (%%eax), %%eax\n\tmovl %%eax, 0(%0)\n\t"
        "leal 0x7f(%%ebx), %%eax\n\tmovl %%eax, 4(%0)\n\t"
        "leal -0x80(%%ecx), %%eax\n\tmovl %%eax, 8(%0)\n\t"
        "leal 0x12345678(%%edx), %%eax\n\tmovl %%eax, 12(%0)\n\t"
        "leal (%%esi,%%edi), %%eax\n\tmovl %%eax, 16(%0)\n\t"
        "leal 0x10(%%esi,%%edi,2), %%eax\n\tmovl %%eax, 20(%0)\n\t"
        "leal -0x1000(%%ebx,%%ecx,4), %%eax\n\tmovl %%eax, 24(%0)\n\t"
        "leal 0x100(,%%edx,8), %%eax\n\tmovl %%eax, 28(%0)\n\t"
        "leal 0xdeadbeef, %%eax\n\tmovl %%eax, 32(%0)\n\t"
        "leal 0(%%ebp), %%eax\n\tmovl %%eax, 36(%0)\n\t"
        "leal 8(%%esp), %%eax\n\tsubl %%esp, %%eax\n\tmovl %%eax, 40(%0)\n\t"
        "leal (%%ebp,%%ebp,8), %%eax\n\tmovl %%eax, 44(%0)\n\t"
        "leal -1(%%edi,%%ebx,1), %%eax\n\tmovl %%eax, 48(%0)\n\t"
        "movl $0xffffffff, %%eax\n\tleaw 0x10(%%esi), %%ax\n\tmovl %%eax, 52(%0)\n\t"
        "leal 0x80000000(%%ebp,%%ebp,1), %%eax\n\tmovl %%eax, 56(%0)\n\t"
        "popl %%ebp"
        :: "D"(r) : "eax", "ebx", "ecx", "edx", "esi", "memory");
    for (int i = 0; i < 15; i++) printf("lea32[%d]=%08x\n", i, r[i]);
    /* 16-bit address size (0x67): [bx+si], [bx+di], [bp+si], [bp+di], [si], [di], [disp16], [bx], wrapping at 64 KiB */
    asm volatile(
        "pushl %%ebp\n\tpushl %%edi\n\t"
        "movl $0x1234f000, %%ebx\n\tmovl $0xabcd2000, %%esi\n\tmovl $0x00050300, %%ebp\n\tmovl $0x7ff00040, %%edi\n\t"
        "movl $0xffffffff, %%eax\n\taddr16 leal (%%bx,%%si), %%eax\n\tmovl %%eax, %%ecx\n\t"
        "movl (%%esp), %%edx\n\tmovl %%ecx, 0(%%edx)\n\t"
        "addr16 leal 0x7f(%%bx,%%di), %%eax\n\tmovl %%eax, 4(%%edx)\n\t"
        "addr16 leal -2(%%bp,%%si), %%eax\n\tmovl %%eax, 8(%%edx)\n\t"
        "addr16 leal 0x1234(%%bp,%%di), %%eax\n\tmovl %%eax, 12(%%edx)\n\t"
        "addr16 leal 0x10(%%si), %%eax\n\tmovl %%eax, 16(%%edx)\n\t"
        "addr16 leal 0xffff(%%di), %%eax\n\tmovl %%eax, 20(%%edx)\n\t"
        "addr16 leal 0x9876, %%eax\n\tmovl %%eax, 24(%%edx)\n\t"
        "addr16 leal 0x2000(%%bx), %%eax\n\tmovl %%eax, 28(%%edx)\n\t"
        "addr16 leal 0(%%bp), %%eax\n\tmovl %%eax, 32(%%edx)\n\t"
        "addr16 leaw 5(%%bp,%%si), %%ax\n\tmovl %%eax, 36(%%edx)\n\t"
        "popl %%edi\n\tpopl %%ebp"
        :: "D"(r) : "eax", "ebx", "ecx", "edx", "esi", "memory");
    for (int i = 0; i < 10; i++) printf("lea16[%d]=%08x\n", i, r[i]);
}

static void bcd(void)
{
    static const u32 v[] = { 0x00, 0x09, 0x0a, 0x0f, 0x19, 0x1a, 0x99, 0x9a, 0xa0, 0xf9, 0xff, 0x45 };
    for (u32 i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        for (u32 c = 0; c < 4; c++) {
            u32 fin = 2 | (c & 1 ? FL_CF : 0) | (c & 2 ? FL_AF : 0);
            u32 a = 0x1200 | v[i], f;
            asm volatile("pushl %2; popfl; daa; pushfl; popl %1" : "+a"(a), "=r"(f) : "r"(fin) : "cc");
            printf("daa %02x cf%u af%u -> %02x f=%03x", v[i], c & 1, c >> 1, a & 0xff, f & (FL_ARITH & ~FL_OF));
            a = 0x1200 | v[i];
            asm volatile("pushl %2; popfl; das; pushfl; popl %1" : "+a"(a), "=r"(f) : "r"(fin) : "cc");
            printf(" das %02x f=%03x", a & 0xff, f & (FL_ARITH & ~FL_OF));
            a = 0x1200 | v[i];
            asm volatile("pushl %2; popfl; aaa; pushfl; popl %1" : "+a"(a), "=r"(f) : "r"(fin) : "cc");
            printf(" aaa %04x f=%03x", a & 0xffff, f & (FL_AF | FL_CF));
            a = 0x1200 | v[i];
            asm volatile("pushl %2; popfl; aas; pushfl; popl %1" : "+a"(a), "=r"(f) : "r"(fin) : "cc");
            printf(" aas %04x f=%03x\n", a & 0xffff, f & (FL_AF | FL_CF));
        }
    static const u32 m[] = { 0x00, 0x3f, 0x63, 0xff };
    for (u32 i = 0; i < 4; i++) {
        u32 a = 0xee00 | m[i], f;
        asm volatile("aam; pushfl; popl %1" : "+a"(a), "=r"(f) :: "cc");
        printf("aam %02x -> %04x f=%03x", m[i], a & 0xffff, f & (FL_SF | FL_ZF | FL_PF));
        a = 0xee00 | m[i];
        asm volatile("aam $16; pushfl; popl %1" : "+a"(a), "=r"(f) :: "cc");
        printf(" aam16 %04x f=%03x", a & 0xffff, f & (FL_SF | FL_ZF | FL_PF));
        a = (m[i] << 8) | 0x07;
        asm volatile("aad; pushfl; popl %1" : "+a"(a), "=r"(f) :: "cc");
        printf(" aad %04x f=%03x", a & 0xffff, f & (FL_SF | FL_ZF | FL_PF));
        a = (m[i] << 8) | 0x07;
        asm volatile("aad $7; pushfl; popl %1" : "+a"(a), "=r"(f) :: "cc");
        printf(" aad7 %04x f=%03x\n", a & 0xffff, f & (FL_SF | FL_ZF | FL_PF));
    }
    puts("aam $0:");
    TRYN("movl $0x55, %%eax; aam $0", ::: "eax", "cc");
}

void kmain(void)
{
    u32 a = 0x11111111, b = 0x22222222, f;
    asm volatile("xchgl %0, %1" : "+r"(a), "+r"(b));
    printf("xchg %x %x\n", a, b);
    u16 w = 0xaaaa;
    asm volatile("xchgb %b0, %h0" : "+q"(b));
    asm volatile("xchgw %w0, %1" : "+r"(a), "+m"(w));
    printf("xchg8 %x xchg16 %x %x\n", b, a, w);
    a = 0x7fffffff; b = 1;
    asm volatile("pushl $2; popfl; xaddl %0, %1; pushfl; popl %2" : "+r"(a), "+m"(b), "=r"(f) :: "cc");
    printf("xadd old=%x new=%x f=%03x\n", a, b, f & FL_ARITH);
    u8 c8 = 0xff, r8 = 1;
    asm volatile("pushl $2; popfl; xaddb %0, %1; pushfl; popl %2" : "+q"(r8), "+m"(c8), "=r"(f) :: "cc");
    printf("xadd8 old=%x new=%x f=%03x\n", r8, c8, f & FL_ARITH);
    for (int i = 0; i < 2; i++) {
        u32 mem = 0x1000, acc = i ? 0x1000 : 0x0fff, nv = 0x2000;
        asm volatile("pushl $2; popfl; lock cmpxchgl %3, %1; pushfl; popl %2" : "+a"(acc), "+m"(mem), "=r"(f) : "r"(nv) : "cc");
        printf("cmpxchg32 acc=%x mem=%x f=%03x\n", acc, mem, f & FL_ARITH);
        u16 m16 = 0x8000; u32 acc16 = i ? 0xffff8000 : 0xffff0001;
        asm volatile("pushl $2; popfl; cmpxchgw %w3, %1; pushfl; popl %2" : "+a"(acc16), "+m"(m16), "=r"(f) : "r"(0x1234u) : "cc");
        printf("cmpxchg16 acc=%x mem=%x f=%03x\n", acc16, m16, f & FL_ARITH);
        u8 m8 = 0x80; u32 acc8 = i ? 0x80 : 0x7f;
        asm volatile("pushl $2; popfl; cmpxchgb %b3, %1; pushfl; popl %2" : "+a"(acc8), "+m"(m8), "=q"(f) : "q"(0x12) : "cc");
        printf("cmpxchg8 acc=%x mem=%x f=%03x\n", acc8, m8, f & FL_ARITH);
        u64 m64 = 0x1111111122222222ULL;
        u32 lo = i ? 0x22222222 : 0x22222223, hi = 0x11111111;
        asm volatile("pushl $0x8d7; popfl; lock cmpxchg8b %2; pushfl; popl %3" : "+a"(lo), "+d"(hi), "+m"(m64), "=r"(f)
                     : "b"(0xbbbbbbbb), "c"(0xcccccccc) : "cc");
        printf("cmpxchg8b edx:eax=%08x:%08x mem=%016llx f=%03x\n", hi, lo, m64, f & FL_ARITH);
    }
    lea_tests();
    u32 x = 0x89abcdef, y;
    asm("movsbl %b1, %0" : "=r"(y) : "q"(x)); printf("movsbl %x", y);
    asm("movsbw %b1, %w0" : "=r"(y) : "q"(x), "0"(0x55555555)); printf(" movsbw %x", y);
    asm("movswl %w1, %0" : "=r"(y) : "r"(x)); printf(" movswl %x", y);
    asm("movzbl %b1, %0" : "=r"(y) : "q"(x)); printf(" movzbl %x", y);
    asm("movzbw %b1, %w0" : "=r"(y) : "q"(x), "0"(0x55555555)); printf(" movzbw %x", y);
    asm("movzwl %w1, %0" : "=r"(y) : "r"(x)); printf(" movzwl %x\n", y);
    u32 e = 0x12348081, d = 0x77777777;
    asm("cbtw" : "+a"(e)); printf("cbw %x", e);
    asm("cwtl" : "+a"(e)); printf(" cwde %x", e);
    asm("cwtd" : "+a"(e), "+d"(d)); printf(" cwd %x:%x", d, e);
    e = 0x7fffffff;
    asm("cltd" : "+a"(e), "=d"(d)); printf(" cdq %x:%x", d, e);
    e = 0x80000000;
    asm("cltd" : "+a"(e), "=d"(d)); printf(" cdq %x:%x\n", d, e);
    static const u8 tab[256] = { [0] = 0x10, [0x7f] = 0x7a, [0x80] = 0x8b, [0xff] = 0xfc };
    static const u32 xi[] = { 0x12345600, 0x7f, 0xffffff80, 0xff };
    for (int i = 0; i < 4; i++) {
        u32 al = xi[i];
        asm("xlat" : "+a"(al) : "b"(tab));
        printf("xlat %x -> %x\n", xi[i], al);
    }
    for (u32 i = 0; i < 2; i++) {
        u32 ah = i ? 0xffff : 0x0000, fo, lah;
        asm volatile("pushl $2; popfl; sahf; pushfl; popl %0; lahf" : "=r"(fo), "+a"(ah) :: "cc");
        lah = ah;
        asm volatile("pushl $0xcd7; popfl; movl $0, %%eax; lahf" : "=a"(ah) :: "cc");
        printf("sahf -> f=%08x lahf=%04x lahf(all)=%04x\n", fo, lah & 0xffff, ah & 0xffff);
    }
    bcd();
}
