/* sysenter: SYSENTER/SYSEXIT with IA32_SYSENTER_CS/ESP/EIP (SDM Vol.2
   SYSENTER: CS=MSR, SS=MSR+8, SYSEXIT returns to CS=MSR+16|3, SS=MSR+24|3
   with EIP=EDX, ESP=ECX); SYSENTER with SYSENTER_CS=0 gives #GP(0). */
#include "lib.h"

u32 k_rec[8], u_rec[8];
extern char user_se[], kentry[];
asm(".text\nkentry:\n\t"
    "movl %cs, %eax\n\tmovl %eax, k_rec\n\t"
    "movl %ss, %eax\n\tmovl %eax, k_rec+4\n\t"
    "movl %esp, k_rec+8\n\t"
    "pushfl\n\tpopl k_rec+12\n\t"
    "movl %ebx, k_rec+16\n\t"
    "movl $1f, %edx\n\t"             /* return EIP */
    "movl %ebp, %ecx\n\t"            /* return ESP */
    "sysexit\n"
    "user_se:\n\t"
    "movl %esp, %ebp\n\t"
    "movl $0x5e, %ebx\n\t"
    "sysenter\n"
    "1:\tmovl %cs, %eax\n\tmovl %eax, u_rec\n\t"
    "movl %ss, %eax\n\tmovl %eax, u_rec+4\n\t"
    "movl %esp, u_rec+8\n\t"
    "pushfl\n\tpopl u_rec+12\n\t"
    "int $0x7f\n");

static u8 kstack[1024] __attribute__((aligned(16)));

void kmain(void)
{
    /* SYSEXIT needs CS+16 = user code, CS+24 = user data: lib GDT has
       0x08 kcode, 0x10 kdata, 0x18 ucode, 0x20 udata, as required */
    wrmsr(0x174, SEL_KCODE);
    wrmsr(0x175, (u32)kstack + sizeof(kstack));
    wrmsr(0x176, (u32)kentry);
    run_user((u32)user_se, USER_STACK_TOP - 0x10, 0x202);
    printf("kernel side: cs=%04x ss=%04x esp=top-%x eflags.if=%u vm=%u ebx=%x\n", k_rec[0], k_rec[1],
           (u32)kstack + sizeof(kstack) - k_rec[2], (k_rec[3] >> 9) & 1, (k_rec[3] >> 17) & 1, k_rec[4]);
    printf("user side: cs=%04x ss=%04x esp=top-%x eflags.if=%u\n", u_rec[0], u_rec[1],
           USER_STACK_TOP - u_rec[2], (u_rec[3] >> 9) & 1);
    wrmsr(0x174, 0);
    puts("sysenter with SYSENTER_CS=0:\n");
    TRYN("sysenter");
    puts("sysexit at CPL0 with SYSENTER_CS=0:\n");
    TRYN("sysexit");
}
