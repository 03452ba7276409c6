/* i8042: the 8042 keyboard controller (ports 0x60/0x64) and the PS/2
   keyboard and mouse behind it, as a kernel finds them after the firmware
   initialised the keyboard: status register, command byte, controller
   commands (self test, interface tests, input/output port, write-to-buffer,
   aux enable/disable), keyboard commands (identify, echo, scan code set,
   LEDs, typematic, reset) with and without set 2 -> set 1 translation, the
   mouse (reset, identify, status request, IntelliMouse sample-rate knock,
   remote mode and poll, wrap mode), and IRQ1/IRQ12 gated by the command
   byte. References: IBM PS/2 Hardware Interface Technical Reference,
   "Keyboard/Auxiliary Device Controller", "Keyboard" and "Pointing Device".
   Each byte read is printed with the status register seen just before it;
   "none" means the output buffer stayed empty. Never the 0xFE/0xF0 pulse
   commands or an output-port write with bit 0 clear: those reset the CPU. */
#include "lib.h"

#define DATA 0x60
#define CMD  0x64

static volatile u32 irq1_count, irq12_count, irq_byte, irq_status;

/* Wait (bounded) for the output buffer; returns the status or -1. */
static int wait_obf(void)
{
    for (int i = 0; i < 20000; i++) {
        u8 st = inb(CMD);
        if (st & 1)
            return st;
    }
    return -1;
}

/* Read the responses until the buffer stays empty, printing each. */
static void drain(const char *what)
{
    printf("%s:", what);
    int n = 0;
    for (;;) {
        int st = wait_obf();
        if (st < 0)
            break;
        printf(" %02x(st %02x)", inb(DATA), st);
        if (++n == 12) {
            puts(" ...");
            break;
        }
    }
    if (!n)
        puts(" none");
    putc('\n');
}

static void ctl(u8 c) { outb(CMD, c); }
static void ctl_arg(u8 c, u8 v) { outb(CMD, c); outb(DATA, v); }
static void kbd(u8 v) { outb(DATA, v); }
static void aux(u8 v) { ctl_arg(0xd4, v); }

static u8 read_ctr(void)
{
    ctl(0x20);
    if (wait_obf() < 0)
        return 0xee;
    return inb(DATA);
}

static void kbd_irq(struct frame *f)
{
    irq_status = inb(CMD);
    irq_byte = inb(DATA);
    irq1_count++;
    outb(0x20, 0x20);
}

static void aux_irq(struct frame *f)
{
    irq_status = inb(CMD);
    irq_byte = inb(DATA);
    irq12_count++;
    outb(0xa0, 0x20);
    outb(0x20, 0x20);
}

/* Let pending interrupts in for a moment. */
static void window(void)
{
    asm volatile("sti; nop; nop; nop; nop; cli" ::: "memory");
}

static void pic_setup(void)
{
    /* 8259A: vectors 0x20/0x28, only IRQ1, the cascade and IRQ12 unmasked */
    outb(0x20, 0x11); outb(0xa0, 0x11);
    outb(0x21, 0x20); outb(0xa1, 0x28);
    outb(0x21, 0x04); outb(0xa1, 0x02);
    outb(0x21, 0x01); outb(0xa1, 0x01);
    outb(0x21, 0xf9); outb(0xa1, 0xef);
    handlers[0x21] = kbd_irq;
    handlers[0x2c] = aux_irq;
}

static void show_irqs(const char *what)
{
    printf("%s: irq1 %u irq12 %u", what, irq1_count, irq12_count);
    if (irq1_count || irq12_count)
        printf(" byte %02x(st %02x)", irq_byte, irq_status);
    putc('\n');
    irq1_count = irq12_count = 0;
}

static void controller(void)
{
    printf("status at entry %02x\n", inb(CMD));
    drain("leftover");
    printf("command byte %02x\n", read_ctr());
    printf("status %02x\n", inb(CMD));
    ctl(0xaa); drain("self test aa");
    ctl(0xab); drain("kbd interface test ab");
    ctl(0xa9); drain("aux interface test a9");
    ctl(0xc0); drain("input port c0");
    ctl(0xd0); drain("output port d0");
    ctl(0xd0); drain("output port d0 again");
    ctl(0xdf); ctl(0xd0); drain("after df (a20 on), d0");
    ctl_arg(0xd1, 0xdf); ctl(0xd0); drain("after d1 df, d0");
    ctl(0xd0); drain("d0 again");
    ctl_arg(0xd1, 0xcf); ctl(0xd0); drain("after d1 cf, d0");
    ctl(0xff); ctl(0xf1); ctl(0xf3); drain("pulse ff f1 f3 (bit 0 kept high)");
    ctl(0xa1); drain("unsupported a1");
    printf("data port with nothing pending %02x\n", inb(DATA));
    ctl_arg(0x60, 0x00);
    printf("command byte after 60 00: %02x\n", read_ctr());
    ctl_arg(0x60, 0xff);
    printf("command byte after 60 ff: %02x, status %02x\n", read_ctr(), inb(CMD));
    drain("after 60 ff");
    ctl_arg(0x60, 0x61);
    ctl(0xad);
    printf("command byte after ad: %02x\n", read_ctr());
    ctl(0xa8);
    printf("command byte after a8: %02x\n", read_ctr());
    ctl(0xa7);
    printf("command byte after a7: %02x\n", read_ctr());
    ctl(0xae);
    printf("command byte after ae: %02x\n", read_ctr());
    ctl_arg(0xd2, 0x5a); drain("d2 5a (as if from the keyboard)");
    ctl_arg(0xd3, 0xa5); drain("d3 a5 (as if from the mouse)");
    ctl_arg(0xd2, 0x11); ctl_arg(0xd2, 0x22); drain("d2 11, d2 22 (one buffer)");
}

static void keyboard(void)
{
    printf("command byte %02x (translation %u)\n", read_ctr(), (read_ctr() >> 6) & 1);
    kbd(0xf2); drain("identify f2");
    kbd(0xee); drain("echo ee");
    kbd(0xf0); kbd(0x00); drain("get scan code set f0 00");
    kbd(0xed); drain("leds ed");
    kbd(0x07); drain("leds value 07");
    kbd(0xf3); kbd(0x2b); drain("typematic f3 2b");
    kbd(0xf5); drain("disable f5");
    kbd(0xf4); drain("enable f4");
    kbd(0xf6); drain("defaults f6");
    kbd(0xf2); kbd(0xee); drain("f2 then ee unread");
    kbd(0xf7); drain("f7 (not a command)");
    kbd(0xfe); drain("resend fe");
    kbd(0x00); drain("00");
    kbd(0xf0); kbd(0x07); drain("set scan code set 7");
    kbd(0xff); drain("reset ff");

    /* translation off: replies in set 2 */
    ctl_arg(0x60, 0x21);
    kbd(0xf2); drain("no translation: identify");
    kbd(0xf0); kbd(0x00); drain("no translation: get set");
    kbd(0xf0); kbd(0x01); drain("set 1");
    kbd(0xf0); kbd(0x00); drain("get set");
    kbd(0xf0); kbd(0x03); kbd(0xf0); kbd(0x00); drain("set 3, get set");
    kbd(0xf0); kbd(0x02); drain("set 2");

    /* a command byte write with the keyboard disabled, then a byte to the
       keyboard: the keyboard interface is enabled again */
    ctl_arg(0x60, 0x31);
    kbd(0xee);
    printf("command byte after a byte to the keyboard: %02x\n", read_ctr());
    drain("its reply");
    ctl_arg(0x60, 0x61);
}

static void mouse(void)
{
    aux(0xf2); drain("mouse identify f2");
    aux(0xff); drain("mouse reset ff");
    aux(0xe9); drain("mouse status e9");
    aux(0xf3); aux(200); aux(0xf3); aux(100); aux(0xf3); aux(80); drain("sample rates 200 100 80");
    aux(0xf2); drain("mouse identify after the knock");
    aux(0xe8); aux(0x03); aux(0xe7); aux(0xf0); drain("resolution 3, scaling 2:1, remote");
    aux(0xe9); drain("mouse status");
    aux(0xeb); drain("poll eb");
    aux(0xe6); aux(0xea); aux(0xf4); drain("scaling 1:1, stream, enable");
    aux(0xe9); drain("mouse status");
    aux(0xf5); aux(0xf6); drain("disable, defaults");
    aux(0xe9); drain("mouse status");
    aux(0xee); aux(0x12); aux(0xf2); aux(0xec); aux(0xf2); drain("wrap ee, 12, f2, ec, f2");
    aux(0xf3); aux(200); aux(0xf3); aux(200); aux(0xf3); aux(80); aux(0xf2); drain("200 200 80 knock, identify");
    aux(0xff); drain("mouse reset");
    aux(0x42); drain("mouse: not a command 42");
    ctl(0xa7);
    aux(0xf2);
    printf("command byte after a7 and a byte to the mouse: %02x\n", read_ctr());
    drain("its reply");
    ctl_arg(0x60, 0x61);
}

static void interrupts(void)
{
    pic_setup();
    ctl_arg(0xd2, 0x33); window(); show_irqs("d2 33, command byte 61");
    ctl_arg(0xd3, 0x44); window(); show_irqs("d3 44, aux irq disabled");
    drain("still in the buffer");
    ctl_arg(0x60, 0x43);
    ctl_arg(0xd3, 0x45); window(); show_irqs("d3 45, command byte 43");
    kbd(0xf2); window(); show_irqs("identify, first byte by irq");
    window(); show_irqs("next window");
    drain("remaining");
    aux(0xf2); window(); show_irqs("mouse identify, irq12");
    window(); show_irqs("next window");
    ctl_arg(0x60, 0x40);
    kbd(0xee); window(); show_irqs("echo with interrupts off");
    ctl_arg(0x60, 0x41); window(); show_irqs("interrupt enable with a byte waiting");
    ctl_arg(0x60, 0x51);
    ctl_arg(0xd2, 0x66); window(); show_irqs("d2 66 with the keyboard disabled (51)");
    ctl(0xae); drain("after ae");
    ctl(0x20); window(); show_irqs("read command byte by irq");
    ctl_arg(0x60, 0x61);
    outb(0x21, 0xff); outb(0xa1, 0xff);
}

void kmain(void)
{
    controller();
    keyboard();
    mouse();
    interrupts();
    printf("final command byte %02x status %02x\n", read_ctr(), inb(CMD));
}
