/* string: MOVS/STOS/LODS/SCAS/CMPS in byte/word/dword sizes, with REP,
   REPE and REPNE, DF=0 and DF=1, and 16-bit addressing (0x67: SI/DI/CX,
   with SI/DI wrapping at 64 KiB). Prints registers, flags and buffers. */
#include "lib.h"

static u8 src[32], dst[32];
#define LOW ((u8 *)0x8000)   /* 0x67 forms need buffers below 64 KiB */

static void dump(const char *tag, const u8 *p, u32 n)
{
    printf("%s:", tag);
    for (u32 i = 0; i < n; i++) printf("%02x", p[i]);
    putc('\n');
}

static void reset(void)
{
    for (u32 i = 0; i < 32; i++) { src[i] = (u8)(0x10 + i); dst[i] = 0xee; }
}

struct regs { u32 esi, edi, ecx, eax, fl; };
static void pr(const char *tag, struct regs *r, const void *sb, const void *db)
{
    printf("%s: esi=%x edi=%x ecx=%x eax=%08x f=%03x\n", tag, r->esi - (u32)sb, r->edi - (u32)db,
           r->ecx, r->eax, r->fl & (FL_ARITH | FL_DF));
}

#define STR(tag, insn, fin, si, di, cx, ax, sb, db) do { struct regs r;            \
    asm volatile("pushl %5; popfl; " insn "; pushfl; popl %4; cld"                 \
                 : "=S"(r.esi), "=D"(r.edi), "=c"(r.ecx), "=a"(r.eax), "=r"(r.fl)     \
                 : "r"(fin), "0"(si), "1"(di), "2"(cx), "3"(ax) : "cc", "memory");  \
    pr(tag, &r, sb, db); } while (0)

void kmain(void)
{
    reset();
    STR("movsb", "movsb", 2, src, dst, 7, 0, src, dst);
    STR("rep movsb", "rep movsb", 2, src, dst, 5, 0, src, dst); dump("dst", dst, 16);
    reset();
    STR("rep movsw", "rep movsw", 2, src, dst, 3, 0, src, dst); dump("dst", dst, 16);
    reset();
    STR("rep movsl std", "rep movsl", 2 | FL_DF, src + 12, dst + 12, 3, 0, src, dst); dump("dst", dst, 16);
    reset();
    STR("rep movsb ecx=0", "rep movsb", 2, src, dst, 0, 0, src, dst); dump("dst", dst, 8);
    STR("rep stosl", "rep stosl", 2, src, dst, 2, 0xa1b2c3d4, src, dst); dump("dst", dst, 12);
    STR("stosw std", "stosw", 2 | FL_DF, src, dst + 8, 9, 0x5566, src, dst); dump("dst", dst, 12);
    STR("lodsb", "lodsb", 2, src + 3, dst, 1, 0x11223344, src, dst);
    STR("lodsw std", "lodsw", 2 | FL_DF, src + 3, dst, 1, 0x11223344, src, dst);
    STR("rep lodsl", "rep lodsl", 2, src, dst, 3, 0, src, dst);
    reset();
    STR("repne scasb found", "repne scasb", 2, src, src, 32, 0x15, src, src);
    STR("repne scasb none", "repne scasb", 2, src, src, 8, 0x99, src, src);
    STR("repe scasb", "repe scasb", 2, src, src, 32, 0x10, src, src);
    STR("scasl", "scasl", 2, src, src, 0, 0x13121110, src, src);
    STR("scasw gt", "scasw", 2, src, src, 0, 0x0001, src, src);
    memcpy(dst, src, 32); dst[9] = 0x05;
    STR("repe cmpsb", "repe cmpsb", 2, src, dst, 32, 0, src, dst);
    STR("repe cmpsl", "repe cmpsl", 2, src, dst, 8, 0, src, dst);
    STR("repne cmpsw", "repne cmpsw", 2, src, dst, 8, 0, src, dst);
    STR("repe cmpsb std", "repe cmpsb", 2 | FL_DF, src + 31, dst + 31, 32, 0, src, dst);
    STR("cmpsb ecx=0 keeps flags", "repe cmpsb", 2 | FL_ARITH, src, dst, 0, 0, src, dst);

    /* 16-bit address size: only SI/DI/CX are used and updated */
    for (u32 i = 0; i < 64; i++) LOW[i] = (u8)(0xa0 + i);
    STR("a16 rep movsb", ".byte 0x67; rep movsb", 2, 0xabcd8000, 0x55558020, 0x77770004, 0, 0, 0);
    dump("low", LOW + 0x20, 8);
    STR("a16 rep stosb", ".byte 0x67; rep stosb", 2, 0, 0xffff8030, 0x3, 0x7e, 0, 0);
    dump("low", LOW + 0x30, 4);
    /* SI wraps from 0xffff to 0 */
    *(u8 *)0xffff = 0x42; *(u8 *)0 = 0x43;
    STR("a16 lodsb wrap", ".byte 0x67; lodsb; .byte 0x67; lodsb", 2, 0x1234ffff, 0, 0, 0, 0, 0);
    STR("a16 repne scasb", ".byte 0x67; repne scasb", 2, 0, 0x8000, 0x40, 0xa5, 0, 0);
    STR("a16 repe cmpsw std", ".byte 0x67; repe cmpsw", 2 | FL_DF, 0x8010, 0x8010, 4, 0, 0, 0);
}
