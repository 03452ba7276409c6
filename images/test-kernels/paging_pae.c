/* paging_pae: PAE paging (SDM Vol.3 4.4): a 4-entry PDPT, 2 MiB and 4 KiB
   pages, accessed/dirty bits, read-only pages with CR0.WP, NX with EFER.NXE
   (#PF with the I/D bit 0x10). */
#include "lib.h"

static u64 pdpt[4] __attribute__((aligned(32)));
static u64 pd0[512] __attribute__((aligned(4096)));
static u64 pt[512] __attribute__((aligned(4096)));
static u8 frame[2][4096] __attribute__((aligned(4096)));
#define NX (1ULL << 63)

static void show(const char *w)
{
    printf("%s: pde0=%03x pde4(pt)=%03x pte0=%03x pte1=%03x\n", w, (u32)pd0[0] & 0xfff, (u32)pd0[4] & 0xfff,
           (u32)pt[0] & 0xfff, (u32)pt[1] & 0xfff);
}

void kmain(void)
{
    memset(frame, 0x5a, sizeof(frame));
    pdpt[0] = (u32)pd0 | 1;                       /* PDPTEs: only P (SDM Vol.3 4.4.1) */
    pd0[0] = 0x000000 | 0x83;                     /* 2 MiB identity pages */
    pd0[1] = 0x200000 | 0x83;
    pd0[2] = 0x400000 | 0x83;
    pd0[4] = (u32)pt | 0x3;                       /* 0x800000: 4 KiB pages */
    pt[0] = (u32)frame[0] | 0x3;
    pt[1] = (u32)frame[1] | 0x3 | NX;
    pt[2] = (u32)frame[0] | 0x1;                  /* read-only alias */
    write_cr4(read_cr4() | 0x20);
    write_cr3((u32)pdpt);
    write_cr0(read_cr0() | 0x80010000);
    printf("pae on: cr4.pae=%u cr0.pg=%u\n", (read_cr4() >> 5) & 1, read_cr0() >> 31);
    show("initial");
    volatile u32 *v0 = (u32 *)0x800000, *v2 = (u32 *)0x802000;
    u32 x = *v0;
    show("read v0");
    *v0 = 0x11223344;
    show("write v0");
    printf("alias=%08x x=%08x\n", *v2, x);
    puts("write read-only alias:\n");
    TRYN("movl $1, 0x802000", ::: "memory");
    /* A reserved-bit fault (bit 63 with EFER.NXE=0) is left out: QEMU 7.2
       reports err=0x08 without the P bit that hardware sets with RSVD. */
    wrmsr(0xc0000080, rdmsr(0xc0000080) | 0x800);
    puts("read NX page with NXE=1:\n");
    TRYN("movl 0x801000, %%eax", ::: "eax");
    *(u8 *)0x801000 = 0xc3;                       /* RET */
    puts("execute NX page:\n");
    TRYN("movl $0x801000, %%eax; jmp *%%eax", ::: "eax");
    pt[1] &= ~NX;
    invlpg(0x801000);
    puts("execute after clearing NX:\n");
    TRYN("movl $0x801000, %%eax; call *%%eax", ::: "eax", "memory");
    show("end");
    puts("not-present 2 MiB region:\n");
    TRYN("movl 0x600000, %%eax", ::: "eax");
    write_cr0(read_cr0() & ~0x80000000);
    write_cr4(read_cr4() & ~0x20);
    wrmsr(0xc0000080, rdmsr(0xc0000080) & ~0x800ULL);
}
