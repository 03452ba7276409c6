/* sysregs: RDMSR/WRMSR round trips (SYSENTER MSRs, STAR, EFER.NXE), MOV
   CR0/CR2/CR3/CR4 round trips, CLTS,
   LMSW/SMSW, SGDT/SIDT/SLDT/STR, LAR/LSL/VERR/VERW on many selectors, ARPL. */
#include "lib.h"

#define SEL(i) ((i) << 3)

void kmain(void)
{
    wrmsr(0x174, 0x1234);                /* IA32_SYSENTER_CS */
    wrmsr(0x175, 0xdeadbeef);
    wrmsr(0x176, 0xcafebabe);
    printf("sysenter_cs=%llx esp=%llx eip=%llx\n", rdmsr(0x174), rdmsr(0x175), rdmsr(0x176));
    wrmsr(0xc0000081, 0x0023001000000000ULL);   /* STAR */
    printf("star=%016llx\n", rdmsr(0xc0000081));
    u64 efer = rdmsr(0xc0000080);
    printf("efer=%llx", efer);
    wrmsr(0xc0000080, efer | 0x800);     /* NXE */
    printf(" with NXE=%llx", rdmsr(0xc0000080));
    wrmsr(0xc0000080, efer);
    printf(" back=%llx\n", rdmsr(0xc0000080));
    /* #GP on reserved EFER bits is left out: QEMU 7.2 TCG does not raise it. */

    u32 cr0 = read_cr0();
    printf("cr0=%08x (PE,ET,NE,WP,AM,NW,CD,PG masked: %08x)\n", cr0 & 0x60050031, cr0 & 0xe005003f);
    write_cr0(cr0 | 0x8);                /* TS */
    printf("ts set: %08x", read_cr0() & 0xf);
    asm volatile("clts");
    printf(" after clts: %08x\n", read_cr0() & 0xf);
    u32 msw;
    asm volatile("smsw %0" : "=r"(msw));
    printf("smsw=%04x\n", msw & 0xffff);
    /* LMSW loads only PE/MP/EM/TS and cannot clear PE (SDM Vol.2 LMSW) */
    asm volatile("lmsw %w0" :: "r"(0xfffe));
    printf("lmsw fffe -> cr0 low=%08x\n", read_cr0() & 0xffff);
    asm volatile("lmsw %w0" :: "r"(0x0001));
    printf("lmsw 0001 -> cr0 low=%08x\n", read_cr0() & 0xffff);
    write_cr0(cr0);
    u32 cr4 = read_cr4();
    write_cr4(cr4 | 0x10 | 0x8 | 0x200);   /* PSE DE OSFXSR */
    printf("cr4 round trip=%08x\n", read_cr4());
    write_cr4(cr4);
    printf("cr4 back=%08x\n", read_cr4());
    write_cr2(0x12345678);
    printf("cr2=%08x\n", read_cr2());
    write_cr3(0x00abc000);
    printf("cr3=%08x\n", read_cr3());

    struct { u16 lim; u32 base; } __attribute__((packed)) g, i;
    asm volatile("sgdt %0; sidt %1" : "=m"(g), "=m"(i));
    printf("sgdt ok=%u limit=%x  sidt ok=%u limit=%x\n", g.base == (u32)gdt, g.lim, i.base == (u32)idt, i.lim);
    u32 ldtr = 0x5555, tr = 0x5555;
    asm volatile("sldt %0; str %1" : "+r"(ldtr), "+r"(tr));
    printf("sldt=%x str=%x\n", ldtr, tr);

    /* an LDT with one descriptor, to have TI=1 selectors */
    static u64 ldt[4];
    set_gdt(20, (u32)ldt, sizeof(ldt) - 1, 0x82, 0);
    asm volatile("lldt %w0" :: "r"(SEL(20)));
    u64 save = gdt[21];
    set_gdt(21, 0, 0, 0, 0);
    ldt[1] = gdt[2];                        /* flat data in the LDT */
    asm volatile("sldt %0" : "=r"(ldtr));
    printf("sldt after lldt=%x\n", ldtr);
    gdt[21] = save;

    set_gdt(9, 0x1000, 0xabcde, 0x92, 0x4);     /* data, byte limit */
    set_gdt(10, 0, 0x12, 0xfa, 0xc);            /* DPL3 code, 4K granular */
    set_gdt(11, 0, 0x0fff, 0x96, 0x4);          /* expand-down data */
    set_gdt(12, 0, 0xfffff, 0x98, 0xc);         /* execute-only code */
    set_gdt(13, 0, 0xfffff, 0x9e, 0xc);         /* conforming readable code */
    set_gdt(14, 0, 0xfffff, 0x12, 0xc);         /* not present data */
    set_gdt(15, 0, 0xfffff, 0xb2, 0xc);         /* DPL1 data */
    gdt[16] = 0x0000ec0000080000ULL;            /* call gate */
    set_gdt(17, 0x8000, 0x67, 0x89, 0);         /* available 32-bit TSS */
    set_gdt(18, 0x8000, 0x2b, 0x81, 0);         /* available 16-bit TSS */
    gdt[19] = 0;                               /* null descriptor */
    static const u32 sels[] = { 0, SEL_KCODE, SEL_KDATA, SEL_UCODE, SEL_UDATA, SEL_TSS, SEL_CODE16,
        SEL(9), SEL(10), SEL(11), SEL(12), SEL(13), SEL(14), SEL(15), SEL(15) | 3, SEL(16), SEL(17),
        SEL(18), SEL(19), SEL(20), 0xc | 0, 0x1f8 | 0x800, SEL(9) | 2 };
    for (u32 k = 0; k < sizeof(sels) / sizeof(sels[0]); k++) {
        u32 s = sels[k], ar = 0xeeeeeeee, lim = 0xeeeeeeee, f1, f2, f3, f4;
        asm volatile("pushl $2; popfl; larl %2, %0; pushfl; popl %1" : "+r"(ar), "=r"(f1) : "r"(s) : "cc");
        asm volatile("pushl $2; popfl; lsll %2, %0; pushfl; popl %1" : "+r"(lim), "=r"(f2) : "r"(s) : "cc");
        asm volatile("pushl $2; popfl; verr %w1; pushfl; popl %0" : "=r"(f3) : "r"(s) : "cc");
        asm volatile("pushl $2; popfl; verw %w1; pushfl; popl %0" : "=r"(f4) : "r"(s) : "cc");
        /* LAR: bits 8-23 of the second dword, masked 00f0ff00 (SDM Vol.2 LAR). The accessed bit
           (bit 8) is left out: hardware sets it on every segment load (SDM Vol.3 3.4.5.1), QEMU
           TCG not for CS loads by far JMP/CALL, so it says nothing about the CPU under test. */
        printf("sel %04x: lar zf=%u", s, (f1 >> 6) & 1);
        if (f1 & FL_ZF) printf(" ar=%08x", ar & 0x00f0fe00);
        printf(" lsl zf=%u", (f2 >> 6) & 1);
        if (f2 & FL_ZF) printf(" lim=%08x", lim);
        printf(" verr=%u verw=%u\n", (f3 >> 6) & 1, (f4 >> 6) & 1);
    }
    /* ARPL: raises the destination RPL to the source RPL, ZF=1 if changed */
    static const u32 ap[][2] = { { 0x10, 0x3 }, { 0x13, 0x1 }, { 0x11, 0x2 }, { 0xfffe, 0x1 } };
    for (int k = 0; k < 4; k++) {
        u32 d = 0xabcd0000 | ap[k][0], f;
        asm volatile("pushl $2; popfl; arpl %w2, %w0; pushfl; popl %1" : "+r"(d), "=r"(f) : "r"(ap[k][1]) : "cc");
        printf("arpl %x,%x -> %08x zf=%u\n", ap[k][0], ap[k][1], d, (f >> 6) & 1);
    }
    asm volatile("lldt %w0" :: "r"(0));
}
