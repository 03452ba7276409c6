/* hello: the smallest kernel; checks the Multiboot hand-over and the
   library's output formats. */
#include "lib.h"

struct mb_info { u32 flags, mem_lower, mem_upper; };

void kmain(void)
{
    puts("hello from a test kernel\n");
    printf("magic=%08x\n", mb_magic);
    struct mb_info *mi = (struct mb_info *)mb_info;
    /* Multiboot spec 3.3: flags bit 0 means mem_lower/mem_upper are valid. */
    printf("mb flags bit0=%u mem_lower=%uK mem_upper=%uK\n", mi->flags & 1, mi->mem_lower, mi->mem_upper);
    u32 cr0 = read_cr0();
    /* PE set, PG clear: Multiboot hands over in protected mode without paging */
    printf("cr0.pe=%u cr0.pg=%u\n", cr0 & 1, cr0 >> 31);
    printf("hex8=%02x hex16=%04x hex32=%08x hex64=%016llx\n", 0xa5, 0xbeef, 0xdeadbeef, 0x0123456789abcdefULL);
    printf("dec=%u neg=%d str=[%s] chr=%c\n", 1234567890u, -42, "abc", 'Z');
    hex8(0x12); putc(' '); hex16(0x3456); putc(' '); hex32(0x789abcde); putc(' '); hex64(0xfedcba9876543210ULL); putc('\n');
}
