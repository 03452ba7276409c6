/* vm86: virtual-8086 mode entered by IRET from CPL0 with IOPL 0 and then
   IOPL 3: INT n through a DPL3 protected-mode gate (the handler's frame
   holds ES/DS/FS/GS and SS:ESP of the 8086 task, the data segment registers
   read as null inside the handler), IOPL-sensitive CLI/STI/PUSHF/INT n
   (#GP(0) when IOPL<3), I/O through the TSS bitmap, privileged
   instructions (#GP(0)). SDM Vol.3 20.2, 20.3. */
#include "lib.h"

extern char v86_start[], v86_end[], v86_res[], v86_exit[];
void run_v86(u32 eflags);

static void int30(struct frame *f)
{
    printf("  int30: eip=%04x cs=%04x eflags=%08x ss:esp=%04x:%04x es=%04x ds=%04x fs=%04x gs=%04x\n",
           f->eip, f->cs, f->eflags & ~(FL_ARITH | FL_RF), f->ss, f->esp, f->v86_es, f->v86_ds, f->v86_fs, f->v86_gs);
    printf("  in handler: ds/es/fs/gs at entry=%x/%x/%x/%x ax=%04x bx=%04x esp0 frame ok=%u\n", f->ds, f->es,
           f->fs, f->gs, f->eax & 0xffff, f->ebx & 0xffff, (u32)&f->v86_gs + 4 == lib_tss.esp0);
    f->ebx = 0x9abc;
}

static void gp(struct frame *f)
{
    u8 *ip = (u8 *)((f->cs << 4) + f->eip);
    printf("  #GP err=%04x vm=%u at %04x:%04x opcode=%02x\n", f->err, (f->eflags >> 17) & 1, f->cs, f->eip, ip[0]);
    if (!(f->eflags & FL_VM)) fail("#GP outside vm86");
    if (ip[0] == 0xcd && ip[1] == 0x32) {
        /* the exit INT itself trapped (IOPL<3): leave vm86 to v86_exit at CPL0 */
        f->eflags &= ~FL_VM;
        f->cs = SEL_KCODE;
        f->eip = (u32)v86_exit;
        return;
    }
    /* skip the faulting instruction: all of them are 1 byte, or 2 for INT n, 3 for MOV CR */
    f->eip += ip[0] == 0xcd ? 2 : ip[0] == 0x0f ? 3 : 1;
}

void kmain(void)
{
    memcpy((void *)0x8000, v86_start, v86_end - v86_start);
    lib_iomap[0x3ff / 8] &= ~(1 << (0x3ff % 8));
    handlers[0x30] = int30;
    handlers[13] = gp;
    set_idt(0x30, lib_stub_table[0x30], SEL_KCODE, 0xee);
    set_idt(0x32, (u32)v86_exit, SEL_KCODE, 0xee);
    u16 *res = (u16 *)(0x8000 + (v86_res - v86_start));
    for (u32 iopl = 0; iopl <= 3; iopl += 3) {
        printf("IOPL=%u:\n", iopl);
        memset(res, 0xee, 16);
        run_v86(0x20002 | (iopl << 12));
        printf("results: %04x %04x %02x es=%04x ss=%04x\n", res[0], res[1], res[2] & 0xff, res[3], res[4]);
    }
}
