/* realmode: see realmode.S. */
#include "lib.h"

extern char rm_start[], rm_end[], results[];
void run_realmode(void);

static const char *const names[] = {
    "cr0.pe", "7fff+1", "flags", "1234*100 ax", "dx", "30007/10 ax", "dx",
    "add32 lo", "hi", "flags", "es:di vs fs:0", "gs:[ebx] 32-bit addr",
    "[bx+si]", "2[bx+di]", "[bp+si]",
    "int60 ip", "int60 cs", "int60 pushed IF", "int60 IF|TF", "int60 sp", "ax after iret",
    "IF after iret", "sp after", "#DE ip-div", "ax after #DE",
    "pusha sp image", "pusha ax image", "popa bx", "sp after popa",
    "movsw si", "di", "cx", "es:104", "std stosw di", "es:104", "repne scasw cx", "di",
    "far call cs", "loop sum",
};

void kmain(void)
{
    memcpy((void *)0x8000, rm_start, rm_end - rm_start);
    /* 16-bit segments based at the blob, so its offsets work before and
       after CR0.PE is cleared */
    set_gdt(9, 0x8000, 0xffff, 0x9a, 0);
    set_gdt(10, 0x8000, 0xffff, 0x92, 0);
    run_realmode();
    u16 *r = (u16 *)(0x8000 + (results - rm_start));
    for (u32 i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        printf("%s = %04x\n", names[i], r[i]);
    printf("unused slot = %04x\n", r[sizeof(names) / sizeof(names[0])]);
    printf("back in protected mode: cr0.pe=%u cs=%04x\n", read_cr0() & 1, ({ u32 c; asm("movl %%cs, %0" : "=r"(c)); c; }));
}
