/* doublefault: exception classes during delivery (SDM Vol.3 Table 6-5):
   contributory + contributory = #DF, #PF + contributory = #DF, benign +
   anything = handled serially; EXT bit in the error codes of faults raised
   while delivering an event. #DF's saved CS:EIP are undefined, so they are
   not printed (the library never prints them for vector 8). */
#include "lib.h"

#define SEL(i) ((i) << 3)

void kmain(void)
{
    /* #GP whose gate is not present: #NP during #GP delivery -> #DF(0) */
    set_idt(13, lib_stub_table[13], SEL_KCODE, 0x0e);
    puts("#GP with a not-present #GP gate:\n");
    TRYN("movl %0, %%ds", :: "r"(0x7ff8) : "memory");
    asm volatile("movl %0, %%ds" :: "r"(SEL_KDATA));
    reset_idt(13);

    /* #PF whose gate points at a not-present code segment -> #DF */
    set_gdt(9, 0, 0xfffff, 0x1a, 0xc);
    set_idt(14, lib_stub_table[14], SEL(9), 0x8e);
    static u32 pd[1024] __attribute__((aligned(4096)));
    pd[0] = 0x83;                     /* one 4 MiB identity page, PS */
    write_cr4(read_cr4() | 0x10);
    write_cr3((u32)pd);
    write_cr0(read_cr0() | 0x80000000);
    puts("#PF with its gate's code segment not present:\n");
    TRYN("movl 0x800000, %%eax", ::: "eax");
    reset_idt(14);
    puts("#PF normally (err, cr2):\n");
    TRYN("movl 0x800000, %%eax", ::: "eax");
    write_cr0(read_cr0() & ~0x80000000);

    /* benign first: INT3 through a not-present gate gives #NP, not #DF */
    set_idt(3, lib_stub_table[3], SEL_KCODE, 0x6e);   /* P=0, DPL3 */
    puts("int3 with a not-present gate:\n");
    TRYN("int3");
    reset_idt(3);
    /* #DE (contributory) through a gate with a bad selector: #GP during delivery -> #DF */
    set_idt(0, lib_stub_table[0], 0x7ff8, 0x8e);
    puts("#DE through a gate with a selector beyond the GDT:\n");
    TRYN("xorl %%ecx, %%ecx; divl %%ecx", ::: "eax", "ecx", "edx", "cc");
    reset_idt(0);
    /* software INT through a gate whose selector is a data segment: #GP(sel), EXT=0 */
    set_idt(0x50, lib_stub_table[0x50], SEL_KDATA, 0x8e);
    puts("int 0x50 through a gate with a data-segment selector:\n");
    TRYN("int $0x50");
    reset_idt(0x50);
    /* #DF whose own gate is not present: a shutdown would follow, so not tested */
}
