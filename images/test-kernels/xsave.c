/* xsave: the XSAVE feature set for x87 and SSE state (SDM Vol. 1 ch. 13): XGETBV/XSETBV and the
   values XCR0 accepts, the standard-form layout XSAVE writes (legacy region, header; only
   components in RFBM, MXCSR with SSE), what XSAVE leaves untouched, XRSTOR's init path for
   components whose XSTATE_BV bit is clear, and the header checks that make XRSTOR fault.
   QEMU's qemu64 model lacks XSAVE, so QEMU runs this one with the CPU named below.
   QEMU 7.2 does not track XINUSE (it reports every component in use), so XSTATE_BV is printed
   only where both components are really in use. FIP/FDP/FOP are not printed.
   The reserved bytes 10-15 of the x87 register slots are not printed either.
   QEMU-CPU: qemu64,+xsave,+xsaveopt */
#include "lib.h"

#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define CR4_OSXSAVE (1u << 18)

static u8 area[1024] __attribute__((aligned(64)));
static u8 area2[1024] __attribute__((aligned(64)));

static u64 xgetbv0(void) { u32 lo, hi; asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0)); return ((u64)hi << 32) | lo; }
static void fill(u8 *p, u8 v) { for (int i = 0; i < 1024; i++) p[i] = v; }
static u64 q(const u8 *p, int off) { return *(const u64 *)(p + off); }

/* 16-byte rows of the area, with the offset. */
static void dump(const char *what, const u8 *p, int from, int to)
{
    for (int off = from; off < to; off += 16) {
        printf("%s +%03x:", what, (u32)off);
        for (int i = 0; i < 16; i++) printf(" %02x", (u32)p[off + i]);
        putc('\n');
    }
}

static const u32 xmm_pattern[32] = {
    0x3f800000, 0x40000000, 0x40400000, 0x40800000, 0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00,
    0x00000001, 0x80000000, 0x7fffffff, 0xffffffff, 0x01020304, 0x05060708, 0x090a0b0c, 0x0d0e0f10,
    0xdeadbeef, 0xcafebabe, 0x8badf00d, 0x0badc0de, 0x12345678, 0x9abcdef0, 0x0fedcba9, 0x87654321,
    0x7f800000, 0xff800000, 0x7fc00000, 0x00000000, 0xa5a5a5a5, 0x5a5a5a5a, 0x3c3c3c3c, 0xc3c3c3c3,
};

/* Puts distinct values in XMM0-7 (two registers per 16-byte pattern row), a non-default MXCSR and
   three values on the x87 stack. */
static void load_state(void)
{
    asm volatile("movdqu 0(%0), %%xmm0; movdqu 16(%0), %%xmm1; movdqu 32(%0), %%xmm2; movdqu 48(%0), %%xmm3;"
                 "movdqu 64(%0), %%xmm4; movdqu 80(%0), %%xmm5; movdqu 96(%0), %%xmm6; movdqu 112(%0), %%xmm7"
                 :: "r"(xmm_pattern) : "memory");
    u32 mxcsr = 0x3f80 | 0x6000; /* all masked, round toward zero */
    asm volatile("ldmxcsr %0" :: "m"(mxcsr));
    asm volatile("fninit; fld1; fldpi; fldl2t");
    u16 fcw = 0x0272; /* all but PM unmasked? no: masks IM DM ZM OM UM set (0x3f->0x32 + PE), PC=10 */
    asm volatile("fldcw %0" :: "m"(fcw));
}

static void print_fpu_regs(const char *when)
{
    u16 fcw, fsw;
    u32 mxcsr;
    u32 x0[4], x7[4];
    asm volatile("fnstcw %0; fnstsw %1; stmxcsr %2" : "=m"(fcw), "=m"(fsw), "=m"(mxcsr));
    asm volatile("movdqu %%xmm0, %0; movdqu %%xmm7, %1" : "=m"(x0), "=m"(x7));
    printf("%s: fcw=%04x fsw=%04x mxcsr=%08x xmm0=%08x%08x%08x%08x xmm7=%08x%08x%08x%08x\n", when, fcw, fsw, mxcsr,
           x0[3], x0[2], x0[1], x0[0], x7[3], x7[2], x7[1], x7[0]);
}

void kmain(void)
{
    exc_quiet = 1;
    write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
    puts("xgetbv with CR4.OSXSAVE clear:");
    TRYN("xorl %%ecx, %%ecx; xgetbv", ::: "eax", "ecx", "edx");
    puts("xsave with CR4.OSXSAVE clear:");
    TRYN("xorl %%eax, %%eax; xorl %%edx, %%edx; xsave area", ::: "eax", "edx", "memory");

    write_cr4(read_cr4() | CR4_OSXSAVE);
    printf("xcr0 at reset=%016llx\n", xgetbv0());
    puts("xsetbv 2 (SSE without x87):");
    TRYN("xorl %%ecx, %%ecx; xorl %%edx, %%edx; movl $2, %%eax; xsetbv", ::: "eax", "ecx", "edx");
    puts("xsetbv 7 (AVX, not offered):");
    TRYN("xorl %%ecx, %%ecx; xorl %%edx, %%edx; movl $7, %%eax; xsetbv", ::: "eax", "ecx", "edx");
    puts("xsetbv to XCR1:");
    TRYN("movl $1, %%ecx; xorl %%edx, %%edx; movl $1, %%eax; xsetbv", ::: "eax", "ecx", "edx");
    puts("xsetbv 3:");
    TRYN("xorl %%ecx, %%ecx; xorl %%edx, %%edx; movl $3, %%eax; xsetbv", ::: "eax", "ecx", "edx");
    printf("xcr0=%016llx\n", xgetbv0());

    /* XSAVE of everything: legacy region and header. */
    load_state();
    print_fpu_regs("loaded");
    fill(area, 0xaa);
    asm volatile("xsave %0" : "+m"(area) : "a"(3), "d"(0));
    printf("full: fcw=%04x fsw=%04x ftw=%02x mxcsr=%08x mxcsr_mask=%08x\n", *(u16 *)area, *(u16 *)(area + 2),
           (u32)area[4], *(u32 *)(area + 24), *(u32 *)(area + 28));
    /* ST0-ST2: the 80-bit values; bytes 10-15 of each slot are reserved (QEMU leaves them). */
    for (int i = 0; i < 3; i++)
        printf("full st%d=%04x%016llx\n", i, (u32)*(u16 *)(area + 40 + 16 * i), q(area, 32 + 16 * i));
    dump("full xmm", area, 160, 288);
    printf("full xstate_bv=%016llx\n", q(area, 512));
    dump("full header", area, 512, 576);
    dump("full past the area", area, 576, 592);

    /* RFBM = x87 only: the SSE part and MXCSR stay as they were; XSTATE_BV bit 1 is kept. */
    fill(area2, 0x55);
    asm volatile("xsave %0" : "+m"(area2) : "a"(1), "d"(0));
    printf("x87 only: fcw=%04x mxcsr bytes=%08x xmm0 bytes=%016llx xstate_bv=%016llx\n", *(u16 *)area2,
           *(u32 *)(area2 + 24), q(area2, 160), q(area2, 512));
    /* RFBM = SSE only: MXCSR and the XMM registers, the x87 part untouched. */
    fill(area2, 0x55);
    asm volatile("xsave %0" : "+m"(area2) : "a"(2), "d"(0));
    printf("sse only: fcw bytes=%04x mxcsr=%08x xmm7=%016llx%016llx st0 bytes=%016llx xstate_bv=%016llx\n",
           *(u16 *)area2, *(u32 *)(area2 + 24), q(area2, 280), q(area2, 272), q(area2, 32), q(area2, 512));
    /* XSAVEOPT into a fresh area writes what XSAVE writes. */
    fill(area2, 0x33);
    asm volatile("xsaveopt %0" : "+m"(area2) : "a"(3), "d"(0));
    dump("xsaveopt xmm", area2, 160, 192);
    printf("xsaveopt mxcsr=%08x fcw=%04x\n", *(u32 *)(area2 + 24), *(u16 *)area2);

    /* XRSTOR with XSTATE_BV = 0: both components take their initial values, MXCSR still loads. */
    fill(area2, 0);
    *(u16 *)area2 = 0x0123;          /* an FCW that must not be loaded */
    *(u32 *)(area2 + 24) = 0x1f80 | 0x4000;
    *(u32 *)(area2 + 160) = 0x12345678; /* an XMM0 that must not be loaded */
    asm volatile("xrstor %0" :: "m"(area2), "a"(3), "d"(0));
    print_fpu_regs("xrstor init");
    /* XRSTOR of the full image brings everything back (once its header is a valid one). */
    for (int i = 512; i < 576; i++) area[i] = 0;
    area[512] = 3;
    asm volatile("xrstor %0" :: "m"(area), "a"(3), "d"(0));
    print_fpu_regs("xrstor full");
    /* RFBM = SSE only from an area with XSTATE_BV = 1: SSE is initialised, x87 kept. */
    load_state();
    fill(area2, 0);
    *(u32 *)(area2 + 24) = 0x1f80;
    *(u64 *)(area2 + 512) = 1;
    asm volatile("xrstor %0" :: "m"(area2), "a"(2), "d"(0));
    print_fpu_regs("xrstor sse-init");

    /* Header checks. */
    fill(area2, 0);
    *(u32 *)(area2 + 24) = 0x1f80;
    *(u64 *)(area2 + 512) = 4;       /* AVX state, not in XCR0 */
    puts("xrstor xstate_bv=4:");
    TRYN("movl $3, %%eax; xorl %%edx, %%edx; xrstor area2", ::: "eax", "edx");
    *(u64 *)(area2 + 512) = 3;
    *(u64 *)(area2 + 520) = 1;       /* XCOMP_BV */
    puts("xrstor xcomp_bv=1:");
    TRYN("movl $3, %%eax; xorl %%edx, %%edx; xrstor area2", ::: "eax", "edx");
    *(u64 *)(area2 + 520) = 0;
    *(u64 *)(area2 + 528) = 1;       /* bytes 16-23 of the header */
    puts("xrstor header bytes 16-23 set:");
    TRYN("movl $3, %%eax; xorl %%edx, %%edx; xrstor area2", ::: "eax", "edx");
    *(u64 *)(area2 + 528) = 0;
    /* An MXCSR with reserved bits set is left out: the SDM makes XRSTOR fault #GP, QEMU 7.2 TCG
       loads it (test/cpu-misc.test.ts covers the #GP). */
    puts("xsave to an area not aligned on 64 bytes:");
    TRYN("movl $3, %%eax; xorl %%edx, %%edx; xsave area+16", ::: "eax", "edx", "memory");
    puts("xrstor from an area not aligned on 64 bytes:");
    TRYN("movl $3, %%eax; xorl %%edx, %%edx; xrstor area+32", ::: "eax", "edx");
    puts("xgetbv ecx=1:");
    TRYN("movl $1, %%ecx; xgetbv", ::: "eax", "ecx", "edx");
}
