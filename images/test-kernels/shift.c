/* shift: SHL/SHR/SAR/ROL/ROR/RCL/RCR (CL, imm8 and by-1 encodings) and
   SHLD/SHRD, counts 0, 1, >= size and >= 32 (masked to 5 bits).
   Flags are masked as the SDM defines them: count 0 changes nothing; OF only
   for count 1; AF undefined for shifts; CF undefined for SHL/SHR (and here
   also SAR) when count >= size; SHLD/SHRD results undefined for count > 16
   on 16-bit operands, so those are left out. */
#include "lib.h"

static const u32 counts[] = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 18, 31, 32, 33, 63 };
static const u32 vals[] = { 0x81818181, 0x40404040, 0xfedcba98 };
#define N(a) (sizeof(a) / sizeof(a[0]))
enum { SHIFT, ROT };

static u32 mask_for(int kind, u32 size, u32 count)
{
    u32 mc = count & 31;
    if (mc == 0) return FL_ARITH;
    if (kind == ROT) return mc == 1 ? FL_ARITH : FL_ARITH & ~FL_OF;
    u32 m = FL_CF | FL_PF | FL_ZF | FL_SF;
    if (mc == 1) m |= FL_OF;
    if (mc >= size) m &= ~FL_CF;
    return m;
}

#define SH(NAME, KIND, T, C)                                                        \
    static void NAME##_##T(u32 v, u32 cnt, u32 fin) {                              \
        T r = (T)v; u32 f;                                                         \
        asm volatile("pushl %3; popfl; " #NAME " %%cl, %0; pushfl; popl %1"         \
                     : "+" C(r), "=&r"(f) : "c"(cnt), "r"(fin) : "cc");            \
        printf(#NAME "%u %x,%u cf%u -> %x f=%03x\n", (u32)sizeof(T) * 8, (u32)(T)v, \
               cnt, fin & 1, (u32)r, f & mask_for(KIND, sizeof(T) * 8, cnt));      \
    }
#define ALL(NAME, KIND) SH(NAME, KIND, u8, "q") SH(NAME, KIND, u16, "r") SH(NAME, KIND, u32, "r")
ALL(shl, SHIFT) ALL(shr, SHIFT) ALL(sar, SHIFT) ALL(rol, ROT) ALL(ror, ROT) ALL(rcl, ROT) ALL(rcr, ROT)

typedef void (*tfn)(u32, u32, u32);
#define FNS(n) n##_u8, n##_u16, n##_u32
static const tfn fns[] = { FNS(shl), FNS(shr), FNS(sar), FNS(rol), FNS(ror), FNS(rcl), FNS(rcr) };

static void dbl(u32 a, u32 b, u32 cnt)
{
    u32 r = a, f, m = mask_for(SHIFT, 64, cnt);
    asm volatile("pushl $2; popfl; shldl %%cl, %3, %0; pushfl; popl %1" : "+r"(r), "=&r"(f) : "c"(cnt), "r"(b) : "cc");
    printf("shld32 %x,%x,%u -> %x f=%03x\n", a, b, cnt, r, f & m);
    r = a;
    asm volatile("pushl $2; popfl; shrdl %%cl, %3, %0; pushfl; popl %1" : "+r"(r), "=&r"(f) : "c"(cnt), "r"(b) : "cc");
    printf("shrd32 %x,%x,%u -> %x f=%03x\n", a, b, cnt, r, f & m);
    if ((cnt & 31) > 16) return;
    r = a;
    asm volatile("pushl $2; popfl; shldw %%cl, %w3, %w0; pushfl; popl %1" : "+r"(r), "=&r"(f) : "c"(cnt), "r"(b) : "cc");
    printf("shld16 %x,%x,%u -> %x f=%03x\n", a & 0xffff, b & 0xffff, cnt, r, f & m);
    r = a;
    asm volatile("pushl $2; popfl; shrdw %%cl, %w3, %w0; pushfl; popl %1" : "+r"(r), "=&r"(f) : "c"(cnt), "r"(b) : "cc");
    printf("shrd16 %x,%x,%u -> %x f=%03x\n", a & 0xffff, b & 0xffff, cnt, r, f & m);
}

void kmain(void)
{
    for (u32 k = 0; k < N(fns); k++)
        for (u32 i = 0; i < N(vals); i++)
            for (u32 c = 0; c < N(counts); c++)
                for (u32 ci = 0; ci < 2; ci++)
                    fns[k](vals[i], counts[c], ci ? 0x2 | FL_ARITH : 0x2);
    for (u32 c = 0; c < N(counts); c++) {
        dbl(0x12345678, 0x9abcdef0, counts[c]);
        dbl(0x80000001, 0x7ffffffe, counts[c]);
    }
    /* immediate and by-one encodings (C0/C1 and D0/D1) */
    u32 r = 0x80000001, f;
    asm volatile("pushl $2; popfl; shll $1, %0; pushfl; popl %1" : "+r"(r), "=r"(f) :: "cc");
    printf("shl by1 -> %x f=%03x\n", r, f & (FL_ARITH & ~FL_AF));
    asm volatile("pushl $2; popfl; rorl $4, %0; pushfl; popl %1" : "+r"(r), "=r"(f) :: "cc");
    printf("ror imm4 -> %x f=%03x\n", r, f & (FL_CF));
    u8 b = 0x81;
    asm volatile("pushl $3; popfl; rclb $1, %0; pushfl; popl %1" : "+m"(b), "=r"(f) :: "cc");
    printf("rclb mem by1 -> %x f=%03x\n", b, f & FL_ARITH);
    u16 w = 0x8001;
    asm volatile("pushl $2; popfl; sarw $15, %0; pushfl; popl %1" : "+m"(w), "=r"(f) :: "cc");
    printf("sarw mem imm15 -> %x f=%03x\n", w, f & (FL_CF | FL_PF | FL_ZF | FL_SF));
    asm volatile("pushl $2; popfl; shldl $8, %2, %0; pushfl; popl %1" : "+m"(r), "=r"(f) : "r"(0xaabbccdd) : "cc");
    printf("shld mem imm8 -> %x f=%03x\n", r, f & (FL_CF | FL_PF | FL_ZF | FL_SF));
}
