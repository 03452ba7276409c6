/* exceptions: #DE, #DB (TF single-step and INT1), #BP (INT3 and INT 3),
   #OF (INTO), #BR (BOUND), #UD (UD2, LOCK misuse, bad ModRM forms), #NP,
   #SS and #GP with their error codes (SDM Vol.3 6.13 error code format:
   selector index | TI | EXT, IDT entries: vector*8+2). */
#include "lib.h"

static volatile u32 steps;
extern char step_start[];

static void db_handler(struct frame *f)
{
    u32 dr6;
    asm volatile("mov %%dr6, %0" : "=r"(dr6));
    printf("  #DB eip=step_start+%x dr6.bs=%u tf=%u\n", f->eip - (u32)step_start, (dr6 >> 14) & 1,
           (f->eflags >> 8) & 1);
    asm volatile("mov %0, %%dr6" :: "r"(0));
    if (++steps == 6) f->eflags &= ~FL_TF;
}

#define SLOT_NP_DATA  10
#define SLOT_XONLY    11
#define SLOT_CODE_NP  12
#define SLOT_RO_DATA  13
#define SLOT_DPL3_DATA 14
#define SEL(i) ((i) << 3)

void kmain(void)
{
    puts("div by zero:\n");
    TRYN("xorl %%ecx, %%ecx; divl %%ecx", ::: "eax", "ecx", "edx", "cc");

    puts("single step:\n");
    handlers[1] = db_handler;
    asm volatile("mov %0, %%dr6" :: "r"(0));
    asm volatile("pushfl; orl $0x100, (%%esp); popfl\n"
                 "step_start: nop\n\tmovl $1, %%eax\n\tjmp 1f\n\t.fill 4, 1, 0x90\n"
                 "1:\taddl %%eax, %%eax\n\tpushl %%eax\n\tpopl %%eax\n\tnop\n\tnop\n\tnop\n\tnop"
                 ::: "eax", "cc", "memory");
    printf("steps=%u\n", steps);
    handlers[1] = 0;
    /* INT1 (F1) is left out: QEMU 7.2 TCG raises #UD for it, hardware #DB */
    puts("int3:\n");
    TRYN("int3", ::: "memory");
    puts("int $3:\n");
    TRYN("int $3", ::: "memory");
    puts("into OF=0:\n");
    TRYN("pushl $2; popfl; into", ::: "cc");
    puts("into OF=1:\n");
    TRYN("pushl $0x802; popfl; into", ::: "cc");

    static const s32 bounds[2] = { -5, 10 };
    static const s16 bounds16[2] = { 3, 4 };
    static const s32 idx[] = { -5, 10, 0, -6, 11 };
    for (int i = 0; i < 5; i++) {
        printf("bound %d in [-5,10]:\n", idx[i]);
        TRYN("boundl %0, %1", :: "r"(idx[i]), "m"(bounds));
    }
    puts("boundw 5 in [3,4]:\n");
    TRYN("boundw %w0, %1", :: "r"(5), "m"(bounds16));

    puts("ud2:\n");
    TRYN("ud2");
    puts("lock nop:\n");
    TRYN(".byte 0xf0, 0x90");
    puts("lock add reg,reg:\n");
    TRYN(".byte 0xf0, 0x01, 0xc0", ::: "eax", "cc");
    puts("lea with register operand:\n");
    TRYN(".byte 0x8d, 0xc0");
    puts("mov to cs:\n");
    TRYN(".byte 0x8e, 0xc8");
    puts("lds with register operand:\n");
    TRYN(".byte 0xc5, 0xc0");
    puts("invalid 0f 0b / 0f ff:\n");
    TRYN(".byte 0x0f, 0xff, 0xc0");
    puts("mov to invalid segment register 6:\n");
    TRYN(".byte 0x8e, 0xf0");

    set_gdt(SLOT_NP_DATA, 0, 0xfffff, 0x12 | 0x00, 0xc);       /* P=0 data */
    set_gdt(SLOT_XONLY, 0, 0xfffff, 0x98, 0xc);                /* execute-only code */
    set_gdt(SLOT_CODE_NP, 0, 0xfffff, 0x1a, 0xc);              /* P=0 code */
    set_gdt(SLOT_RO_DATA, 0, 0xfffff, 0x90, 0xc);              /* read-only data */
    set_gdt(SLOT_DPL3_DATA, 0, 0xfffff, 0xf2, 0xc);            /* DPL3 data */
    static const struct { const char *what; u32 sel; } ds_loads[] = {
        { "ds <- not present", SEL(SLOT_NP_DATA) },
        { "ds <- execute-only code", SEL(SLOT_XONLY) },
        { "ds <- beyond gdt limit", 0x1f8 + 0x800 },
        { "ds <- ldt selector (no ldt)", 0x0c },
        { "ds <- readable code", SEL_KCODE },
        { "ds <- null", 0 },
        { "ds <- tss", SEL_TSS },
        { "ds <- rpl3 dpl0 data", SEL_KDATA | 3 },
        { "ds <- dpl3 data", SEL(SLOT_DPL3_DATA) },
    };
    for (u32 i = 0; i < sizeof(ds_loads) / sizeof(ds_loads[0]); i++) {
        printf("%s (%04x):\n", ds_loads[i].what, ds_loads[i].sel);
        /* DS is restored by the very next instruction: with DS holding a readable code segment,
           any write through it would #GP (QEMU TCG does not check, real hardware does). */
        TRYN("movl %0, %%ds; movl %1, %%ds", :: "r"(ds_loads[i].sel), "r"(SEL_KDATA));
        asm volatile("movl %0, %%ds" :: "r"(SEL_KDATA));
    }
    static const struct { const char *what; u32 sel; } ss_loads[] = {
        { "ss <- null", 0 },
        { "ss <- not present", SEL(SLOT_NP_DATA) },
        { "ss <- read-only data", SEL(SLOT_RO_DATA) },
        { "ss <- code", SEL_KCODE },
        { "ss <- dpl3 data", SEL(SLOT_DPL3_DATA) | 3 },
        { "ss <- rpl3 dpl0", SEL_KDATA | 3 },
    };
    for (u32 i = 0; i < sizeof(ss_loads) / sizeof(ss_loads[0]); i++) {
        printf("%s (%04x):\n", ss_loads[i].what, ss_loads[i].sel);
        TRYN("movl %%ss, %%ebx; movl %0, %%ss; movl %%ebx, %%ss", :: "r"(ss_loads[i].sel) : "ebx");
    }
    puts("ljmp to not-present code:\n");
    TRYN("ljmp $0x60, $1f", ::: "memory");
    puts("ljmp to data segment:\n");
    TRYN("ljmp $0x10, $1f", ::: "memory");
    puts("ljmp to null:\n");
    TRYN("ljmp $0, $1f", ::: "memory");
    puts("lcall to tss busy:\n");
    TRYN("lcall $0x28, $0", ::: "memory");
    puts("int 0x40 through a not-present gate:\n");
    set_idt(0x40, lib_stub_table[0x40], SEL_KCODE, 0x0e);   /* valid type, P=0 */
    TRYN("int $0x40", ::: "memory");
    reset_idt(0x40);
    puts("int 0x41 through a trap gate (IF unchanged):\n");
    set_idt(0x41, lib_stub_table[0x41], SEL_KCODE, 0x8f);
    exc_quiet = 1;
    TRYN("int $0x41", ::: "memory");
    exc_quiet = 0;
    puts("int 0x42 through an invalid gate type:\n");
    idt[0x42] = 0;
    TRYN("int $0x42", ::: "memory");
    reset_idt(0x42);
    /* Unknown MSRs and reserved CR4 bits are left out: QEMU 7.2 TCG does
       not raise #GP for them as hardware does. */
    /* CR0.PG=1 with PE=0 is left out too: QEMU 7.2 accepts it (hardware: #GP). */
    puts("mov to cr1:\n");
    TRYN(".byte 0x0f, 0x22, 0xc8", ::: "eax");
}
