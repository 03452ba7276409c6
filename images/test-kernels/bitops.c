/* bitops: BT/BTS/BTR/BTC with register and memory operands (register bit
   offsets reach outside the addressed dword, negative too; immediate offsets
   are masked), BSF/BSR, BSWAP. After BTx only CF (and unaffected ZF) are
   defined; after BSF/BSR only ZF, and the destination only for a nonzero
   source (SDM Vol.2 BT, BSF, BSR). */
#include "lib.h"

static u8 buf[64];
#define BTF (FL_CF | FL_ZF)

static void dump(void)
{
    for (u32 i = 0; i < sizeof(buf); i++) printf("%02x", buf[i]);
    putc('\n');
}

#define BTREG(OP, v, o) do { u32 r = (v), f; \
    asm volatile("pushl $2; popfl; " #OP "l %2, %0; pushfl; popl %1" : "+r"(r), "=&r"(f) : "r"(o) : "cc"); \
    printf(#OP " reg %x,%u -> %x f=%03x\n", (u32)(v), (u32)(o), r, f & BTF); } while (0)
#define BTREG16(OP, v, o) do { u32 r = (v), f; \
    asm volatile("pushl $0x42; popfl; " #OP "w %w2, %w0; pushfl; popl %1" : "+r"(r), "=&r"(f) : "r"(o) : "cc"); \
    printf(#OP "w reg %x,%u -> %x f=%03x\n", (u32)(v), (u32)(o), r, f & BTF); } while (0)
#define BTMEM(OP, o) do { u32 f; \
    asm volatile("pushl $2; popfl; " #OP "l %1, (%2); pushfl; popl %0" : "=&r"(f) : "r"(o), "r"(buf + 32) : "cc", "memory"); \
    printf(#OP " mem+32,%d f=%03x ", (s32)(o), f & BTF); dump(); } while (0)
#define BTMEM16(OP, o) do { u32 f; \
    asm volatile("pushl $2; popfl; " #OP "w %w1, (%2); pushfl; popl %0" : "=&r"(f) : "r"(o), "r"(buf + 32) : "cc", "memory"); \
    printf(#OP "w mem+32,%d f=%03x ", (s32)(s16)(o), f & BTF); dump(); } while (0)
#define BTIMM(OP, o) do { u32 f; \
    asm volatile("pushl $2; popfl; " #OP "l %1, (%2); pushfl; popl %0" : "=&r"(f) : "i"(o), "r"(buf + 32) : "cc", "memory"); \
    printf(#OP " mem+32,$%u f=%03x ", (u32)(o), f & BTF); dump(); } while (0)

static const s32 offs[] = { 0, 5, 31, 32, 63, 100, 255, -1, -8, -33, -200, -256 };

void kmain(void)
{
    for (u32 i = 0; i < sizeof(buf); i++) buf[i] = (u8)(i * 37 + 11);
    dump();
    static const u32 ro[] = { 0, 7, 31, 32, 45, 0xffffffff };
    for (u32 i = 0; i < 6; i++) {
        BTREG(bt, 0x80000081, ro[i]); BTREG(bts, 0x80000081, ro[i]);
        BTREG(btr, 0x80000081, ro[i]); BTREG(btc, 0x80000081, ro[i]);
        BTREG16(bts, 0x12348001, ro[i]); BTREG16(btc, 0x12348001, ro[i]);
    }
    for (u32 i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        BTMEM(bt, offs[i]); BTMEM(bts, offs[i]); BTMEM(btr, offs[i]); BTMEM(btc, offs[i]);
    }
    static const u32 o16[] = { 3, 17, 0x7fff & 200, 0xffff, 0xfff0, 0xff38 };
    for (u32 i = 0; i < 6; i++) { BTMEM16(bt, o16[i]); BTMEM16(btc, o16[i]); }
    BTIMM(bt, 33); BTIMM(bts, 65); BTIMM(btr, 200); BTIMM(btc, 255);

    static const u32 sv[] = { 0, 1, 0x80000000, 0x00f00000, 0xffffffff, 0x00000100, 0x12345678 };
    for (u32 i = 0; i < 7; i++) {
        u32 d = 0x55, f;
        asm volatile("pushl $2; popfl; bsfl %2, %0; pushfl; popl %1" : "+r"(d), "=r"(f) : "rm"(sv[i]) : "cc");
        printf("bsf %x -> zf=%u", sv[i], (f >> 6) & 1);
        if (sv[i]) printf(" %u", d);
        asm volatile("pushl $2; popfl; bsrl %2, %0; pushfl; popl %1" : "+r"(d), "=r"(f) : "rm"(sv[i]) : "cc");
        printf(" bsr zf=%u", (f >> 6) & 1);
        if (sv[i]) printf(" %u", d);
        asm volatile("pushl $2; popfl; bsfw %w2, %w0; pushfl; popl %1" : "+r"(d), "=r"(f) : "r"(sv[i]) : "cc");
        printf(" bsfw zf=%u", (f >> 6) & 1);
        if (sv[i] & 0xffff) printf(" %x", d);
        asm volatile("pushl $2; popfl; bsrw %w2, %w0; pushfl; popl %1" : "+r"(d), "=r"(f) : "r"(sv[i]) : "cc");
        printf(" bsrw zf=%u", (f >> 6) & 1);
        if (sv[i] & 0xffff) printf(" %x", d);
        u32 b = sv[i];
        asm volatile("bswap %0" : "+r"(b));
        printf(" bswap %08x\n", b);
    }
}
