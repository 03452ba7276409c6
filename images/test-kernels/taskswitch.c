/* taskswitch: hardware task switches in 32-bit protected mode (SDM Vol.3
   ch. 8): JMP to a TSS (no nesting), CALL to a TSS (NT=1, back link) and
   IRET with NT=1 back, INT through a task gate in the IDT, busy bits,
   CR0.TS set by every switch, register state saved into / loaded from the
   TSSs, #TS for a TSS whose limit is below 0x67, #GP for a busy TSS. */
#include "lib.h"

#define SEL(i) ((i) << 3)
static struct tss32 tss_b __attribute__((aligned(128)));
static u8 stack_b[2048] __attribute__((aligned(16)));
u32 rec[32];
extern char task_b[];

/* task B: three entries, each continues where the previous one left */
asm(".text\ntask_b:\n\t"
    "movl %eax, rec\n\t"
    "str %eax\n\tmovl %eax, rec+4\n\t"
    "pushfl\n\tpopl rec+8\n\t"
    "movl %cr0, %eax\n\tmovl %eax, rec+12\n\t"
    "movl %esp, rec+16\n\t"
    "movl $0xb1b1, %eax\n\t"
    "ljmp $0x28, $0\n\t"                       /* back to the library task */
    "movl %eax, rec+20\n\t"                   /* entry 2 (CALL) */
    "pushfl\n\tpopl rec+24\n\t"
    "movzwl tss_b, %eax\n\tmovl %eax, rec+28\n\t" /* back link */
    "movl $0xb2b2, %eax\n\t"
    "iret\n\t"
    "movl %eax, rec+32\n\t"                   /* entry 3 (task gate) */
    "pushfl\n\tpopl rec+36\n\t"
    "movzwl tss_b, %eax\n\tmovl %eax, rec+40\n\t"
    "movl $0xb3b3, %eax\n\t"
    "iret\n\t"
    "jmp .\n");

static u32 type_of(int idx) { return (u32)(gdt[idx] >> 40) & 0xf; }

void kmain(void)
{
    memset(&tss_b, 0, sizeof(tss_b));
    tss_b.eip = (u32)task_b;
    tss_b.esp = (u32)stack_b + sizeof(stack_b);
    tss_b.eflags = 0x2;
    tss_b.eax = 0xb0b0;
    tss_b.cs = SEL_KCODE;
    tss_b.ds = tss_b.es = tss_b.fs = tss_b.gs = tss_b.ss = SEL_KDATA;
    tss_b.cr3 = read_cr3();
    tss_b.iomap = sizeof(tss_b);
    set_gdt(9, (u32)&tss_b, sizeof(tss_b) - 1, 0x89, 0);
    printf("types before: lib tss=%x tss b=%x\n", type_of(5), type_of(9));

    u32 a_eax, a_fl;
    asm volatile("movl $0xa0a0, %%eax\n\tljmp $0x48, $0\n\tpushfl\n\tpopl %1" : "=a"(a_eax), "=r"(a_fl) :: "memory", "cc");
    printf("jmp: B saw eax=%x tr=%x nt=%u cr0.ts=%u esp=top-%x\n", rec[0], rec[1], (rec[2] >> 14) & 1,
           (rec[3] >> 3) & 1, (u32)stack_b + sizeof(stack_b) - rec[4]);
    printf("jmp back: A eax=%x nt=%u cr0.ts=%u types: lib=%x b=%x, B saved eax=%x\n", a_eax, (a_fl >> 14) & 1,
           (read_cr0() >> 3) & 1, type_of(5), type_of(9), tss_b.eax);
    asm volatile("clts");

    asm volatile("movl $0xa1a1, %%eax\n\tlcall $0x48, $0\n\tpushfl\n\tpopl %1" : "=a"(a_eax), "=r"(a_fl) :: "memory", "cc");
    printf("call: B saw eax=%x nt=%u link=%x\n", rec[5], (rec[6] >> 14) & 1, rec[7]);
    printf("iret back: A eax=%x nt=%u types: lib=%x b=%x\n", a_eax, (a_fl >> 14) & 1, type_of(5), type_of(9));

    /* task gate (type 5) in the IDT */
    idt[0x60] = ((u64)0x8500 << 32) | ((u32)SEL(9) << 16);
    asm volatile("movl $0xa2a2, %%eax\n\tint $0x60\n\tpushfl\n\tpopl %1" : "=a"(a_eax), "=r"(a_fl) :: "memory", "cc");
    printf("task gate: B saw eax=%x nt=%u link=%x; A eax=%x\n", rec[8], (rec[9] >> 14) & 1, rec[10], a_eax);
    asm volatile("clts");

    /* TSS descriptor with a limit below 0x67: #TS(sel) */
    set_gdt(10, (u32)&tss_b, 0x40, 0x89, 0);
    puts("jmp to a TSS with limit 0x40:\n");
    TRYN("ljmp $0x50, $0", ::: "memory");
    puts("jmp to the busy current TSS:\n");
    TRYN("ljmp $0x28, $0", ::: "memory");
    puts("iret with NT=1 and link to a non-busy TSS:\n");
    lib_tss.link = SEL(9);
    TRYN("pushfl; orl $0x4000, (%%esp); popfl; iret", ::: "memory", "cc");
    asm volatile("pushfl; andl $~0x4000, (%%esp); popfl" ::: "cc");
    printf("final tr types: lib=%x b=%x\n", type_of(5), type_of(9));
}
