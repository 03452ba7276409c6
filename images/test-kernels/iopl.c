/* iopl: I/O and IF sensitivity at CPL3: IOPL<CPL consults the TSS I/O
   permission bitmap (SDM Vol.1 19.5), multi-byte accesses need every
   port's bit clear; IOPL=3 allows all; CLI/STI #GP when IOPL<CPL; POPF at
   CPL3 silently keeps IF and IOPL. */
#include "lib.h"

u32 rec[8];
extern char user_io[];
asm(".text\nuser_io:\n\t"
    "movl $1f, recover_eip\n\tmovw $0x3ff, %dx\n\tmovb $0x5a, %al\n\toutb %al, %dx\n"   /* allowed */
    "1:\tmovl $1f, recover_eip\n\tmovb $0, %al\n\tinb %dx, %al\n\tmovl %eax, rec\n"
    "1:\tmovl $1f, recover_eip\n\tmovw $0x3fe, %dx\n\tinb %dx, %al\n"                   /* denied */
    "1:\tmovl $1f, recover_eip\n\tmovw $0x80, %dx\n\tinw %dx, %ax\n"                    /* 0x81 denied */
    "1:\tmovl $1f, recover_eip\n\tinb $0x80, %al\n"                                     /* allowed */
    "1:\tmovl $1f, recover_eip\n\tcli\n"
    "1:\tmovl $1f, recover_eip\n\tsti\n"
    "1:\tmovl $0, recover_eip\n\t"
    "pushl $0x3000 | 0x200 | 0xcd5\n\tpopfl\n\tpushfl\n\tpopl %eax\n\tmovl %eax, rec+4\n\t"
    "pushl $0x202\n\tpopfl\n\t"
    "int $0x7f\n");

void kmain(void)
{
    /* allow ports 0x3ff and 0x80 in the bitmap */
    lib_iomap[0x3ff / 8] &= ~(1 << (0x3ff % 8));
    lib_iomap[0x80 / 8] &= ~(1 << (0x80 % 8));
    puts("IOPL=0:\n");
    run_user((u32)user_io, USER_STACK_TOP, 0x202);
    printf("scratch read back %02x, popf at cpl3 -> %08x\n", rec[0] & 0xff, rec[1]);
    puts("IOPL=3:\n");
    rec[0] = 0;
    run_user((u32)user_io, USER_STACK_TOP, 0x3202);
    printf("scratch read back %02x, popf at cpl3 -> %08x\n", rec[0] & 0xff, rec[1]);
    asm volatile("cli");
    /* #AC (CR0.AM + EFLAGS.AC at CPL3) is left out: QEMU 7.2 TCG does not
       implement alignment checking. */
}
