/* ioapic: the I/O APIC as firmware leaves it (ID, version, masked entries), and routing of the
   PIT's IRQ0 (pin 2 on the pc machine) to a vector of our choice through the local APIC, with the
   8259 masked: the interrupt arrives, sits in the local APIC's ISR until EOI, and a masked entry
   delivers nothing (82093AA datasheet §3.2; SDM Vol. 3A §10.8). Only facts are printed. */
#include "lib.h"

#define IOAPIC 0xfec00000u
#define LAPIC 0xfee00000u
static inline u32 io_read(u32 reg) { *(volatile u32 *)IOAPIC = reg; return *(volatile u32 *)(IOAPIC + 0x10); }
static inline void io_write(u32 reg, u32 v) { *(volatile u32 *)IOAPIC = reg; *(volatile u32 *)(IOAPIC + 0x10) = v; }
static inline u32 la_read(u32 reg) { return *(volatile u32 *)(LAPIC + reg); }
static inline void la_write(u32 reg, u32 v) { *(volatile u32 *)(LAPIC + reg) = v; }

static volatile u32 hits, vec, in_isr;

static void irq(struct frame *f)
{
    hits++;
    vec = f->vec;
    in_isr = (la_read(0x100 + (f->vec / 32) * 0x10) >> (f->vec % 32)) & 1;
    la_write(0xb0, 0);
}

static void pit_oneshot(u16 count)
{
    outb(0x43, 0x30);                 /* channel 0, lo/hi byte, mode 0 */
    outb(0x40, count & 0xff);
    outb(0x40, count >> 8);
}

void kmain(void)
{
    printf("ioapic id=%08x version=%08x\n", io_read(0), io_read(1));
    printf("entry 2 after firmware: lo=%08x hi=%08x\n", io_read(0x14), io_read(0x15));
    io_write(0x14, 0x00010000 | 0x30);   /* pin 2: masked, vector 0x30 */
    io_write(0x15, 0);
    printf("entry 2 written: lo=%08x hi=%08x\n", io_read(0x14), io_read(0x15));

    la_write(0xf0, 0x1ff);               /* local APIC software-enabled */
    outb(0x21, 0xff); outb(0xa1, 0xff);  /* 8259 fully masked */
    handlers[0x30] = irq;

    /* masked entry: the PIT fires but nothing is delivered */
    pit_oneshot(1000);
    for (volatile int i = 0; i < 200000; i++)
        ;
    asm volatile("sti; nop; nop; cli" ::: "memory");
    printf("masked: delivered=%u\n", hits);

    /* unmasked, edge, fixed, physical destination 0 */
    io_write(0x14, 0x30);
    pit_oneshot(1000);
    while (!hits)
        asm volatile("sti; hlt; cli" ::: "memory");
    printf("unmasked: vector=%02x was in isr=%u isr now=%u\n", vec, in_isr,
           (la_read(0x100 + (0x30 / 32) * 0x10) >> (0x30 % 32)) & 1);
    io_write(0x14, 0x00010030);
    done();
}
