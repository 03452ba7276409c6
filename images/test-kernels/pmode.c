/* pmode: segmentation in 32-bit protected mode with the library's own GDT:
   data segments with nonzero bases (incl. expand-down and 4 KiB granular
   ones), far JMP/CALL/RET into a code segment with a nonzero base and into a
   16-bit code segment, a same-privilege call gate, and the CS limit check of
   far transfers (#GP(0), SDM Vol.2 JMP).
   Data-segment limit violations are left out: QEMU TCG does not check the
   limits of data and stack segments. */
#include "lib.h"

#define SEL(i) ((i) << 3)
extern char based_entry[], code16_entry[], gate_target[];
u32 res[8];

asm(".text\n"
    /* runs with CS base 0x1000: EIP = linear - 0x1000 */
    "based_entry:\n\t"
    "call 1f\n1:\tpopl %eax\n\t"
    "movl %eax, res\n\t"
    "movl %cs, %eax\n\tmovl %eax, res+4\n\t"
    "ljmp $0x08, $based_back\n"
    /* 16-bit code in a segment based at its own 64 KiB block */
    ".code16\n"
    "code16_entry:\n\t"
    "movw $0x1234, %ax\n\t"
    "call 2f\n\t"
    "movl $res+8, %ebx\n\t"
    "movl %eax, (%ebx)\n\t"
    "pushl $0x11227788\n\t"         /* 32-bit push/pop in 16-bit code: 0x66 prefix */
    "popl %eax\n\t"
    "movl %eax, 4(%ebx)\n\t"
    "ljmpl $0x08, $code16_back\n"
    "2:\tshlw $4, %ax\n\tretw\n"
    ".code32\n"
    "gate_target:\n\t"
    "movl 4(%esp), %eax\n\tmovl %eax, res+16\n\t"   /* caller CS */
    "movl 8(%esp), %eax\n\tmovl %eax, res+20\n\t"   /* argument (not copied at same CPL) */
    "lret $4\n");

void kmain(void)
{
    static u8 area[0x3000] __attribute__((aligned(4096)));
    for (u32 i = 0; i < sizeof(area); i++) area[i] = (u8)(i ^ (i >> 8));
    u32 base = (u32)area, v;
    set_gdt(9, base + 0x100, 0xff, 0x92, 0x4);       /* data, base area+0x100 */
    set_gdt(10, base, 0x1, 0x92, 0xc);               /* limit 2 pages (G=1) */
    set_gdt(11, base, 0x0fff, 0x96, 0x4);            /* expand-down, B=1 */
    set_gdt(12, base - 0xf000, 0x0fff, 0x96, 0x0);    /* expand-down, B=0: offsets 0x1000-0xffff */
    asm volatile("movl %1, %%fs; movl %%fs:0, %0" : "=r"(v) : "r"(SEL(9)));
    printf("base+0x100: fs:0 = %08x\n", v);
    asm volatile("movl %1, %%gs; movl %%gs:0x1ffc, %0" : "=r"(v) : "r"(SEL(10)));
    printf("G=1: gs:1ffc = %08x\n", v);
    asm volatile("movl %1, %%es; movl %%es:0x2abc, %0" : "=r"(v) : "r"(SEL(11)));
    printf("expand-down: es:2abc = %08x\n", v);
    asm volatile("movl %1, %%es; movl %%es:0xf010, %0" : "=r"(v) : "r"(SEL(12)));
    printf("expand-down B=0 base-60K: es:f010 = %08x\n", v);
    asm volatile("movl %0, %%es; movl %0, %%fs; movl %0, %%gs" :: "r"(SEL_KDATA));

    /* code segment based at 0x1000 */
    set_gdt(13, 0x1000, 0xfffff, 0x9a, 0xc);
    asm volatile("ljmp *%0\nbased_back:" :: "m"(((struct { u32 off; u16 sel; } __attribute__((packed))){ (u32)based_entry - 0x1000, SEL(13) })) : "eax", "memory");
    printf("based code: eip=linear-0x1000 ok=%u cs=%04x\n", res[0] == (u32)based_entry + 5 - 0x1000, res[1]);

    /* 16-bit code segment based at the 64 KiB block holding code16_entry */
    u32 b16 = (u32)code16_entry & 0xffff0000;
    set_gdt(14, b16, 0xffff, 0x9a, 0x0);
    asm volatile("ljmp *%0\ncode16_back:" :: "m"(((struct { u32 off; u16 sel; } __attribute__((packed))){ (u32)code16_entry - b16, SEL(14) })) : "eax", "ebx", "memory");
    printf("16-bit code: ax=%08x pop32=%08x\n", res[2], res[3]);

    /* call gate, DPL0, same privilege: no stack switch, no parameter copy */
    u32 g = (u32)gate_target;
    gdt[15] = ((u64)((g & 0xffff0000) | 0x8c00 | 1) << 32) | ((u32)SEL_KCODE << 16) | (g & 0xffff);
    asm volatile("pushl $0xabcd; lcall $0x78, $0x12345678" ::: "eax", "memory");
    printf("call gate: caller cs=%04x arg=%x\n", res[4], res[5]);

    /* far transfer beyond the CS limit */
    set_gdt(16, 0, 0xfff, 0x9a, 0x4);
    puts("ljmp to offset 0x2000, limit 0xfff:\n");
    TRYN("ljmp $0x80, $0x2000", ::: "memory");
    /* Far CALL and RET beyond the limit are left out: QEMU 7.2 reports the
       selector instead of 0 for CALL and does not check RET. */
}
