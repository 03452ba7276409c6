/* syscall64: see syscall64.S. GDT for SYSCALL/SYSRET (STAR): 0x40 kernel
   64-bit code, 0x48 kernel data; SYSRET base 0x50: 0x58 user data, 0x60
   user 64-bit code. */
#include "lib.h"

void syscall_tests(void);

void kmain(void)
{
    set_gdt(9, 0, 0xfffff, 0x92, 0xc);     /* 0x48 */
    set_gdt(11, 0, 0xfffff, 0xf2, 0xc);    /* 0x58 */
    set_gdt(12, 0, 0xfffff, 0xfa, 0xa);    /* 0x60, L=1 */
    run_long(syscall_tests);
    puts("back in protected mode\n");
}
