/* alu: ADD/ADC/SUB/SBB/CMP/AND/OR/XOR/TEST, INC/DEC/NEG/NOT on 8/16/32-bit
   operands with boundary inputs; prints result and arithmetic flags.
   Logical ops leave AF undefined (SDM Vol.2 AND/OR/XOR/TEST), so it is masked. */
#include "lib.h"

static const u32 vals[] = { 0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x5a5aa5a5, 0x12345678 };
#define NV (sizeof(vals) / sizeof(vals[0]))
static const u32 fins[] = { 0x002, 0x002 | FL_ARITH };

#define BIN(NAME, T, C, MASK)                                                     \
    static void NAME##_##T(u32 a, u32 b, u32 fin) {                               \
        T r = (T)a; u32 f;                                                       \
        asm volatile("pushl %3; popfl; " #NAME " %2, %0; pushfl; popl %1"         \
                     : "+" C(r), "=&r"(f) : C((T)b), "r"(fin) : "cc");           \
        printf(#NAME "%u %x %x cf%u -> %x f=%03x\n", (u32)sizeof(T) * 8,         \
               (u32)(T)a, (u32)(T)b, fin & 1, (u32)r, f & (MASK));              \
    }
#define UN(NAME, T, C, MASK)                                                      \
    static void NAME##_##T(u32 a, u32 b, u32 fin) {                               \
        T r = (T)a; u32 f; (void)b;                                              \
        asm volatile("pushl %2; popfl; " #NAME " %0; pushfl; popl %1"             \
                     : "+" C(r), "=&r"(f) : "r"(fin) : "cc");                    \
        printf(#NAME "%u %x cf%u -> %x f=%03x\n", (u32)sizeof(T) * 8,             \
               (u32)(T)a, fin & 1, (u32)r, f & (MASK));                          \
    }
#define ALLSIZES(M, NAME, MASK) M(NAME, u8, "q", MASK) M(NAME, u16, "r", MASK) M(NAME, u32, "r", MASK)

ALLSIZES(BIN, add, FL_ARITH)
ALLSIZES(BIN, adc, FL_ARITH)
ALLSIZES(BIN, sub, FL_ARITH)
ALLSIZES(BIN, sbb, FL_ARITH)
ALLSIZES(BIN, cmp, FL_ARITH)
ALLSIZES(BIN, and, FL_ARITH & ~FL_AF)
ALLSIZES(BIN, or, FL_ARITH & ~FL_AF)
ALLSIZES(BIN, xor, FL_ARITH & ~FL_AF)
ALLSIZES(BIN, test, FL_ARITH & ~FL_AF)
ALLSIZES(UN, inc, FL_ARITH)
ALLSIZES(UN, dec, FL_ARITH)
ALLSIZES(UN, neg, FL_ARITH)
ALLSIZES(UN, not, FL_ARITH)

typedef void (*tfn)(u32, u32, u32);
#define FNS(NAME) NAME##_u8, NAME##_u16, NAME##_u32
static const tfn bins[] = { FNS(add), FNS(adc), FNS(sub), FNS(sbb), FNS(cmp), FNS(and), FNS(or), FNS(xor), FNS(test) };
static const tfn uns[] = { FNS(inc), FNS(dec), FNS(neg), FNS(not) };

void kmain(void)
{
    for (u32 k = 0; k < sizeof(bins) / sizeof(bins[0]); k++)
        for (u32 i = 0; i < NV; i++)
            for (u32 j = 0; j < NV; j++)
                for (u32 c = 0; c < 2; c++)
                    bins[k](vals[i], vals[j], fins[c]);
    for (u32 k = 0; k < sizeof(uns) / sizeof(uns[0]); k++)
        for (u32 i = 0; i < NV; i++)
            for (u32 c = 0; c < 2; c++)
                uns[k](vals[i], 0, fins[c]);
    /* memory-destination forms and the sign-extended imm8 encodings */
    u32 m = 0x7ffffff0, f;
    asm volatile("pushl $2; popfl; addl $0x10, %0; pushfl; popl %1" : "+m"(m), "=r"(f) :: "cc");
    printf("addl $0x10,mem -> %x f=%03x\n", m, f & FL_ARITH);
    asm volatile("pushl $2; popfl; subl $-1, %0; pushfl; popl %1" : "+m"(m), "=r"(f) :: "cc");
    printf("subl $-1,mem -> %x f=%03x\n", m, f & FL_ARITH);
    u16 w = 0x8000;
    asm volatile("pushl $2; popfl; sbbw $1, %0; pushfl; popl %1" : "+m"(w), "=r"(f) :: "cc");
    printf("sbbw $1,mem -> %x f=%03x\n", w, f & FL_ARITH);
    u8 b = 0xff;
    asm volatile("pushl $2; popfl; incb %0; pushfl; popl %1" : "+m"(b), "=r"(f) :: "cc");
    printf("incb mem -> %x f=%03x\n", b, f & FL_ARITH);
}
