/* pic_pit: program the 8259 pair (vectors 0x20/0x28) and PIT channel 0 in
   mode 0, then STI+HLT: the timer interrupt arrives as vector 0x20 with the
   saved EIP right after HLT; in-service/request bits; EOI; and the STI
   interrupt shadow (SDM Vol.2 STI: interrupts are recognised only after the
   instruction following STI). Only facts are printed, never counts. */
#include "lib.h"

static volatile u32 got_vec, got_eip, got_isr, got_if;
extern char after_hlt[], sti_insn[], after_shadow[];

static void irq0(struct frame *f)
{
    got_vec = f->vec;
    got_eip = f->eip;
    got_if = (get_eflags() >> 9) & 1;
    outb(0x20, 0x0b);                 /* OCW3: read ISR */
    got_isr = inb(0x20);
    outb(0x20, 0x20);                 /* non-specific EOI */
}

static void pit_oneshot(u16 count)
{
    outb(0x43, 0x30);                 /* channel 0, lo/hi byte, mode 0 */
    outb(0x40, count & 0xff);
    outb(0x40, count >> 8);
}

void kmain(void)
{
    /* ICW1..ICW4 (8259A datasheet): edge triggered, cascade, 8086 mode */
    outb(0x20, 0x11); outb(0xa0, 0x11);
    outb(0x21, 0x20); outb(0xa1, 0x28);
    outb(0x21, 0x04); outb(0xa1, 0x02);
    outb(0x21, 0x01); outb(0xa1, 0x01);
    outb(0x21, 0xfe); outb(0xa1, 0xff);   /* only IRQ0 */
    printf("imr master=%02x slave=%02x\n", inb(0x21), inb(0xa1));
    handlers[0x20] = irq0;

    pit_oneshot(2000);
    asm volatile("sti; hlt\nafter_hlt:\n\tcli" ::: "memory");
    printf("vector=%02x eip==after_hlt:%u isr=%02x if_in_handler=%u\n", got_vec,
           got_eip == (u32)after_hlt, got_isr, got_if);
    outb(0x20, 0x0b);
    printf("isr after eoi=%02x\n", inb(0x20));

    /* make IRQ0 pending while IF=0, then STI: delivery waits one instruction */
    got_vec = 0;
    pit_oneshot(100);
    outb(0x20, 0x0a);                 /* OCW3: read IRR */
    while (!(inb(0x20) & 1))
        ;
    printf("irr pending=1 delivered before sti=%u\n", got_vec != 0);
    asm volatile("sti_insn: sti\n\tnop\nafter_shadow:\n\tnop\n\tcli" ::: "memory");
    printf("vector=%02x delivered after the instruction following sti:%u\n", got_vec,
           got_eip == (u32)after_shadow);
    outb(0x21, 0xff);
}
