/* longmode: see longmode.S (the switch itself is lib/long.S). */
#include "lib.h"

void long_tests(void);

void kmain(void)
{
    printf("entering long mode\n");
    run_long(long_tests);
    printf("back in protected mode: cr0.pg=%u efer=%llx cr4.pae=%u\n", read_cr0() >> 31,
           rdmsr(0xc0000080) & 0xd00, (read_cr4() >> 5) & 1);
}
