/* stack: PUSH/POP forms (incl. PUSH ESP, POP [ESP], 16-bit), PUSHA/POPA,
   PUSHF/POPF (which flags POPF may change at CPL0), ENTER levels 0/1/3 and
   LEAVE, near/far/indirect CALL, RET, RET imm16. Stack addresses are printed
   relative to the top of a private stack. */
#include "lib.h"

void run_stack(u32 *out);

void kmain(void)
{
    u32 out[30];
    memset(out, 0, sizeof(out));
    run_stack(out);
    static const char *const names[30] = {
        "push esp", "pop [esp]", "esp after", "pushw x2", "popw x2", "popa eax", "popa ebp",
        "esp after popa", "pushaw ax", "esp after popaw", "enter0 esp", "enter0 ebp",
        "leave ebp", "enter1 esp", "enter1 [ebp-4]", "enter3 esp", "enter3 [ebp-4]",
        "enter3 [ebp-8]", "enter3 [ebp-12]", "leave esp", "enterw esp", "leavew esp",
        "ret8 esp", "ret8 sum", "lret esp", "lret cs", "lret4 esp", "lret4 arg",
        "call reg", "call mem",
    };
    for (int i = 0; i < 30; i++) printf("%s = %08x\n", names[i], out[i]);

    /* POPF at CPL0 with IOPL0: everything but VM/RF/VIP/VIF; TF, IF and NT
       are left out here because they would trap, take interrupts or make
       the next IRET a task switch (SDM Vol.2 POPF). */
    u32 f;
    asm volatile("pushfl; pushl $0xfffebcff; popfl; pushfl; popl %0; popfl" : "=r"(f) :: "cc");
    printf("popf all-ones -> %08x\n", f);
    asm volatile("pushfl; pushl $0; popfl; pushfl; popl %0; popfl" : "=r"(f) :: "cc");
    printf("popf zero -> %08x\n", f);
    asm volatile("pushfl; pushl $0x3000; popfl; pushfl; popl %0; popfl" : "=r"(f) :: "cc");
    printf("popf iopl3 -> %08x\n", f);
    /* 16-bit POPF only touches the low half */
    asm volatile("pushfl; pushl $0x40000; popfl; pushw $0x0cd5; popfw; pushfl; popl %0; popfl" : "=r"(f) :: "cc");
    printf("popfw -> %08x\n", f);
    u16 fw;
    asm volatile("pushl $0x246; popfl; pushfw; popw %0" : "=r"(fw) :: "cc");
    printf("pushfw -> %04x\n", fw);
    u32 sel;
    asm volatile("pushl $0xffffffff; pushl %%ds; popl %0; addl $4, %%esp" : "=r"(sel));
    printf("push ds (low 16) -> %04x\n", sel & 0xffff);
    asm volatile("pushl %%fs; pushl $0x18; popl %%fs; movl %%fs, %0; popl %%fs" : "=r"(sel));
    printf("pop fs -> %04x\n", sel);
}
