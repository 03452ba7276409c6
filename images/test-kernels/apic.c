/* apic: the local APIC as firmware leaves it (base MSR, version, LVTs), register write masks, the
   timer in one-shot and periodic mode delivering its vector through the IDT, ISR and EOI, TPR
   blocking a vector until it is lowered, and a self-IPI through the ICR (SDM Vol. 3A ch. 10).
   Only facts are printed: no counts that depend on time. */
#include "lib.h"

#define APIC 0xfee00000u
static inline u32 ar(u32 reg) { return *(volatile u32 *)(APIC + reg); }
static inline void aw(u32 reg, u32 v) { *(volatile u32 *)(APIC + reg) = v; }

static volatile u32 hits, got_vec, isr_bit;

static void timer_irq(struct frame *f)
{
    hits++;
    got_vec = f->vec;
    isr_bit = (ar(0x100 + (f->vec / 32) * 0x10) >> (f->vec % 32)) & 1;  /* ISR */
    aw(0xb0, 0);                                                     /* EOI */
}

void kmain(void)
{
    u64 base = rdmsr(0x1b);
    printf("apic base msr=%08x bsp=%u enabled=%u\n", (u32)(base & 0xfffff000), (u32)(base >> 8) & 1,
           (u32)(base >> 11) & 1);
    printf("version=%08x id=%08x\n", ar(0x30), ar(0x20));
    printf("svr=%08x lvt0=%08x lvt1=%08x lvt timer=%08x lvt error=%08x\n", ar(0xf0), ar(0x350), ar(0x360),
           ar(0x320), ar(0x370));
    aw(0x80, 0xffffffff);
    printf("tpr after writing ffffffff=%08x\n", ar(0x80));
    aw(0x80, 0);

    handlers[0x41] = timer_irq;
    handlers[0x42] = timer_irq;
    handlers[0x50] = timer_irq;
    aw(0xf0, 0x1ff);                  /* software enable, spurious vector 0xff */
    aw(0x3e0, 0xb);                   /* divide by 1 */

    /* one-shot */
    aw(0x320, 0x41);
    aw(0x380, 100000);
    while (!hits)
        asm volatile("sti; hlt; cli" ::: "memory");
    printf("one-shot: vector=%02x in isr=%u current count=%08x\n", got_vec, isr_bit, ar(0x390));
    printf("isr after eoi=%08x\n", ar(0x100 + (0x41 / 32) * 0x10));

    /* periodic: three interrupts, then masked and stopped */
    hits = 0;
    aw(0x320, 0x20042);
    aw(0x380, 100000);
    while (hits < 3)
        asm volatile("sti; hlt; cli" ::: "memory");
    aw(0x320, 0x10042);
    aw(0x380, 0);
    printf("periodic: vector=%02x hits>=3 masked lvt=%08x\n", got_vec, ar(0x320));

    /* TPR: a self-IPI at vector 0x50 waits while TPR class >= 5 */
    hits = 0;
    aw(0x80, 0x50);
    aw(0x300, 0x40050);               /* ICR: self shorthand, fixed, vector 0x50 */
    asm volatile("sti; nop; nop; cli" ::: "memory");
    printf("self-ipi with tpr=50: delivered=%u irr=%u\n", hits, (ar(0x200 + (0x50 / 32) * 0x10) >> (0x50 % 32)) & 1);
    aw(0x80, 0x40);
    asm volatile("sti; nop; nop; cli" ::: "memory");
    printf("after tpr=40: delivered=%u vector=%02x ppr=%08x\n", hits, got_vec, ar(0xa0));
    aw(0x80, 0);
    done();
}
