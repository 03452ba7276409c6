/* ring3: IRET to CPL3, a DPL3 call gate with 2 copied parameters back to
   CPL0 (stack switch to SS0:ESP0 from the TSS), INT through a DPL3 gate (the
   handler's frame holds the user SS:ESP), INT through a DPL0 gate (#GP),
   privileged instructions at CPL3 (#GP(0)), RPL/DPL checks on segment loads
   (SDM Vol.3 5.8.5, 6.12.1). */
#include "lib.h"

u32 gate_rec[8], int_rec[8], user_rec[8];
extern char user_main[], gate_entry[];

asm(".text\n"
    "gate_entry:\n\t"             /* CPL0 via the call gate */
    "movl 0(%esp), %eax\n\tmovl %eax, gate_rec\n\t"
    "movl 4(%esp), %eax\n\tmovl %eax, gate_rec+4\n\t"
    "movl 8(%esp), %eax\n\tmovl %eax, gate_rec+8\n\t"
    "movl 12(%esp), %eax\n\tmovl %eax, gate_rec+12\n\t"
    "movl 16(%esp), %eax\n\tmovl %eax, gate_rec+16\n\t"
    "movl 20(%esp), %eax\n\tmovl %eax, gate_rec+20\n\t"
    "movl %esp, gate_rec+24\n\t"
    "movl %ss, %eax\n\tmovl %eax, gate_rec+28\n\t"
    "movl $0x600d, %eax\n\t"
    "lret $8\n"
    "user_main:\n\t"
    "movl %cs, %eax\n\tmovl %eax, user_rec\n\t"
    "movl %ss, %eax\n\tmovl %eax, user_rec+4\n\t"
    "pushl $0x1111\n\tpushl $0x2222\n\t"
    "lcall $0x4b, $0xdead\n\t"    /* gate in GDT slot 9, RPL3; offset ignored */
    "movl %eax, user_rec+8\n\t"
    "movl %esp, user_rec+12\n\t"
    "movl %cs, %eax\n\tmovl %eax, user_rec+16\n\t"
    "movl $0x1234, %eax\n\t"
    "int $0x80\n\t"
    "movl %eax, user_rec+20\n\t"
    "movl $1f, recover_eip\n\tint $0x81\n"        /* DPL0 gate: #GP(0x81*8+2) */
    "1:\tmovl $1f, recover_eip\n\thlt\n"
    "1:\tmovl $1f, recover_eip\n\tcli\n"
    "1:\tmovl $1f, recover_eip\n\tmovl %cr0, %eax\n"
    "1:\tmovl $1f, recover_eip\n\tmovl $0x10, %eax\n\tmovl %eax, %ds\n"   /* DPL0 data from CPL3 */
    "1:\tmovl $1f, recover_eip\n\tmovl $0x08, %eax\n\tmovl %eax, %ss\n"
    "1:\tmovl $1f, recover_eip\n\tljmp $0x08, $1f\n"                    /* to CPL0 code directly */
    "1:\tmovl $1f, recover_eip\n\tlgdt (%esp)\n"
    "1:\tmovl $1f, recover_eip\n\tint $3\n"                              /* DPL0 gate for #BP here */
    "1:\tmovl $0, recover_eip\n\t"
    "movl $0x53, %eax\n\tmovl %eax, %fs\n\t"      /* DPL3 data with RPL3: fine */
    "movl %fs, %eax\n\tmovl %eax, user_rec+24\n\t"
    "movl $0x99, %eax\n\tint $0x7f\n");

static void int80(struct frame *f)
{
    int_rec[0] = f->eip - (u32)user_main;
    int_rec[1] = f->cs;
    int_rec[2] = f->eflags;
    int_rec[3] = f->esp;
    int_rec[4] = f->ss;
    int_rec[5] = lib_tss.esp0 - (u32)f;   /* how deep below ESP0 the frame sits */
    int_rec[6] = f->eax;
    u32 ss; asm("movl %%ss, %0" : "=r"(ss)); int_rec[7] = ss;
    f->eax = 0x4321;
}

void kmain(void)
{
    /* call gate: DPL3, 2 dword parameters, to SEL_KCODE:gate_entry */
    u32 g = (u32)gate_entry;
    gdt[9] = ((u64)((g & 0xffff0000) | 0xec00 | 2) << 32) | ((u32)SEL_KCODE << 16) | (g & 0xffff);
    set_gdt(5, (u32)&lib_tss, (u32)lib_iomap + sizeof(lib_iomap) - (u32)&lib_tss - 1, 0x8b, 0);
    set_gdt(10, 0, 0xfffff, 0xf2, 0xc);            /* selector 0x53: DPL3 data */
    handlers[0x80] = int80;
    set_idt(0x80, lib_stub_table[0x80], SEL_KCODE, 0xee);
    set_idt(0x81, lib_stub_table[0x81], SEL_KCODE, 0x8e);
    lib_tss.esp0 = lib_tss.esp0 - 0x40;            /* a recognisable ESP0 */
    u32 r = run_user((u32)user_main, USER_STACK_TOP - 0x20, 0x202);
    printf("user cs=%04x ss=%04x\n", user_rec[0], user_rec[1]);
    printf("gate: eip=user_main+%x cs=%04x params=%x,%x old esp=top-%x old ss=%04x\n",
           gate_rec[0] - (u32)user_main, gate_rec[1], gate_rec[2], gate_rec[3],
           USER_STACK_TOP - gate_rec[4], gate_rec[5]);
    printf("gate: kernel esp=esp0-%x ss=%04x\n", lib_tss.esp0 - gate_rec[6], gate_rec[7]);
    printf("after gate: eax=%x esp=top-%x cs=%04x\n", user_rec[2], USER_STACK_TOP - user_rec[3], user_rec[4]);
    printf("int80: eip=user_main+%x cs=%04x eflags=%08x user esp=top-%x ss=%04x frame at esp0-%x eax=%x kss=%04x\n",
           int_rec[0], int_rec[1], int_rec[2], USER_STACK_TOP - int_rec[3], int_rec[4], int_rec[5], int_rec[6], int_rec[7]);
    printf("after int80 eax=%x, fs=%04x, final eax=%x\n", user_rec[5], user_rec[6], r);
}
