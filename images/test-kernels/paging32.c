/* paging32: 32-bit paging with 4 KiB pages and 4 MiB (PSE) pages:
   accessed/dirty bits after reads and writes (PDE and PTE), aliasing,
   INVLPG after changing a PTE, CR0.WP, global pages with CR4.PGE, and #PF
   error codes and CR2 (SDM Vol.3 4.3, 4.7, 4.8, 4.10.4). */
#include "lib.h"

#define P 1
#define W 2
#define U 4
#define A 0x20
#define D 0x40
#define PS 0x80
#define G 0x100

static u32 pd[1024] __attribute__((aligned(4096)));
static u32 pt0[1024] __attribute__((aligned(4096)));
static u32 pt2[1024] __attribute__((aligned(4096)));
static u8 frames[4][4096] __attribute__((aligned(4096)));

#define V(i) (0x800000 + (i) * 0x1000)   /* test pages, mapped by pt2 */

static void show(const char *what)
{
    printf("%s: pde2=%03x pte0=%03x pte1=%03x pte2=%03x pde1(4M)=%03x\n", what, pd[2] & 0xfff,
           pt2[0] & 0xfff, pt2[1] & 0xfff, pt2[2] & 0xfff, pd[1] & 0xfff);
}

extern char user_code[];
/* user code: each access that faults resumes at the next label */
asm(".text\nuser_code:\n\t"
    "movl $1f, recover_eip\n\t"
    "movl 0x800000 + 3 * 0x1000, %eax\n"        /* supervisor page: #PF(5) */
    "1:\tmovl $1f, recover_eip\n\t"
    "movl $0x44, 0x800000 + 4 * 0x1000\n"       /* read-only user page: #PF(7) */
    "1:\tmovl $1f, recover_eip\n\t"
    "movl $0x800000 + 3 * 0x1000, %eax\n\t"
    "jmp *%eax\n"                                /* fetch from a supervisor page: #PF(5), no I/D bit without NX */
    "1:\tmovl 0x800000 + 4 * 0x1000, %eax\n\t"   /* readable */
    "int $0x7f\n");

void kmain(void)
{
    for (u32 i = 0; i < 4; i++) memset(frames[i], 0x10 * (i + 1), 4096);
    for (u32 i = 0; i < 1024; i++) pt0[i] = (i << 12) | P | W | U;
    pt0[0] = 0;                                    /* page 0 unmapped */
    pd[0] = (u32)pt0 | P | W | U;
    pd[1] = 0x400000 | P | W | U | PS;             /* 4 MiB page, identity */
    pd[2] = (u32)pt2 | P | W | U;
    pt2[0] = (u32)frames[0] | P | W;
    pt2[1] = (u32)frames[1] | P | W;
    pt2[2] = (u32)frames[0] | P;                   /* read-only alias of frame 0 */
    pt2[3] = (u32)frames[2] | P | W;               /* supervisor only */
    pt2[4] = (u32)frames[3] | P | U;               /* user, read-only */
    pt2[5] = 0;                                    /* not present */
    write_cr4(read_cr4() | 0x10);                  /* PSE */
    write_cr3((u32)pd);
    write_cr0(read_cr0() | 0x80010000);            /* PG, WP */
    printf("paging on: cr0=%08x cr3=%08x cr4.pse=%u\n", read_cr0() & 0x80010001, read_cr3(), (read_cr4() >> 4) & 1);
    show("initial");
    volatile u32 *v0 = (u32 *)V(0), *v1 = (u32 *)V(1), *v2 = (u32 *)V(2);
    u32 x = *v0;
    show("after read v0");
    *v1 = 0xcafe0001;
    show("after write v1");
    printf("read v0=%08x v1=%08x frame1=%08x\n", x, *v1, *(u32 *)frames[1]);
    *v0 = 0x12345678;
    printf("alias: v2 sees %08x\n", *v2);
    show("after alias");
    /* 4 MiB page: its PDE gets A and D */
    volatile u32 *big = (u32 *)0x600000;
    x = *big;
    show("after read 4M page");
    *big = 1;
    show("after write 4M page");

    /* retarget v1 to frame 2, INVLPG, read */
    pt2[1] = (u32)frames[2] | P | W;
    invlpg(V(1));
    printf("after invlpg v1=%08x\n", *v1);
    /* clear A/D bits, flush through CR3 reload, and watch them being set again */
    pt2[0] &= ~(A | D); pd[2] &= ~A;
    write_cr3(read_cr3());
    show("cleared, cr3 reload");
    x = *v0;
    show("read again");

    /* CR0.WP */
    puts("write read-only page, WP=1:\n");
    TRYN("movl $1, 0x802000", ::: "memory");
    write_cr0(read_cr0() & ~0x10000);
    puts("write read-only page, WP=0:\n");
    TRYN("movl $0xabcd, 0x802000", ::: "memory");
    printf("frame0 now %08x\n", *(u32 *)frames[0]);
    show("after WP=0 write");
    write_cr0(read_cr0() | 0x10000);
    puts("read not-present page:\n");
    TRYN("movl 0x805000, %%eax", ::: "eax");
    puts("write not-present page:\n");
    TRYN("movl %%eax, 0x805004", ::: "memory");
    puts("read unmapped page 0 (null pointer):\n");
    TRYN("movl 0x10, %%eax", ::: "eax");
    puts("read through a not-present PDE:\n");
    TRYN("movl 0xc0000000, %%eax", ::: "eax");
    puts("execute in a not-present page (instruction fetch):\n");
    TRYN("movl $0x806000, %%eax; jmp *%%eax", ::: "eax", "memory");

    puts("user mode accesses:\n");
    printf("user read of user page = %08x\n", run_user((u32)user_code, USER_STACK_TOP, 0x2));
    show("after user");

    /* global pages: a changed global PTE is reloaded after toggling CR4.PGE */
    write_cr4(read_cr4() | 0x80);
    pt2[6] = (u32)frames[1] | P | W | G;
    invlpg(V(6));
    printf("global v6=%08x", *(u32 *)V(6));
    pt2[6] = (u32)frames[3] | P | W | G;
    write_cr4(read_cr4() & ~0x80);
    write_cr4(read_cr4() | 0x80);
    printf(" after PGE toggle=%08x pte6=%03x cr4.pge=%u\n", *(u32 *)V(6), pt2[6] & 0xfff, (read_cr4() >> 7) & 1);
    write_cr0(read_cr0() & ~0x80000000);
    printf("paging off: cr0.pg=%u\n", read_cr0() >> 31);
}
