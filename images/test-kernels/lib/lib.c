/* Shared library of the tsemu test kernels: serial output, formatting,
   GDT/IDT/TSS setup and the default exception handler. */
#include "lib.h"

#define COM1 0x3f8

u64 gdt[GDT_ENTRIES] __attribute__((aligned(8)));
u64 idt[256] __attribute__((aligned(8)));
/* Default I/O bitmap: every port denied. */
struct lib_tss_block lib_tss_block __attribute__((aligned(128)));
u8 user_stack[4096] __attribute__((aligned(4096)));
u8 lib_kstack[8192] __attribute__((aligned(16)));   /* ring-0 stack for CPL changes */
handler_t handlers[256];
volatile u32 recover_eip;
volatile u32 last_vec = 0xff;
volatile u32 last_err;
volatile u32 exc_quiet;

void *memset(void *d, int c, u32 n) { u8 *p = d; while (n--) *p++ = (u8)c; return d; }
void *memcpy(void *d, const void *s, u32 n) { u8 *p = d; const u8 *q = s; while (n--) *p++ = *q++; return d; }

void putc(char c)
{
    /* LSR bit 5: transmitter holding register empty */
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (u8)c);
}

void puts(const char *s) { while (*s) putc(*s++); }

static void hexn(u64 v, int digits)
{
    for (int i = digits - 1; i >= 0; i--)
        putc("0123456789abcdef"[(v >> (i * 4)) & 15]);
}
void hex8(u32 v) { hexn(v, 2); }
void hex16(u32 v) { hexn(v, 4); }
void hex32(u32 v) { hexn(v, 8); }
void hex64(u64 v) { hexn(v, 16); }

static void dec(u32 v, int width, char pad)
{
    char buf[12]; int n = 0;
    do { buf[n++] = '0' + v % 10; v /= 10; } while (v);
    while (width-- > n) putc(pad);
    while (n) putc(buf[--n]);
}

void printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') { putc(*fmt); continue; }
        fmt++;
        char pad = ' '; int width = 0, ll = 0;
        if (*fmt == '0') { pad = '0'; fmt++; }
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') { ll++; fmt++; }
        switch (*fmt) {
        case 's': { const char *s = va_arg(ap, const char *); int l = 0;
            while (s[l]) l++;
            while (width-- > l) putc(' ');
            puts(s); break; }
        case 'c': putc((char)va_arg(ap, int)); break;
        case 'u': dec(va_arg(ap, u32), width, pad); break;
        case 'd': { s32 v = va_arg(ap, s32);
            if (v < 0) { putc('-'); dec(-(u32)v, width ? width - 1 : 0, pad); }
            else dec(v, width, pad);
            break; }
        case 'x': {
            u64 v = ll >= 2 ? va_arg(ap, u64) : va_arg(ap, u32);
            int n = 1;
            while (n < 16 && (v >> (n * 4))) n++;
            while (width-- > n) putc(pad);
            hexn(v, n); break; }
        case '%': putc('%'); break;
        default: putc('?'); break;
        }
    }
    va_end(ap);
}

void exit(u32 code)
{
    /* LSR bit 6 (transmitter empty): the last byte has really left the UART
       before the emulator is told to exit */
    while (!(inb(COM1 + 5) & 0x40))
        ;
    /* isa-debug-exit: QEMU exits with status (code << 1) | 1 */
    outb(0xf4, (u8)code);
    for (;;) asm volatile("cli; hlt");
}

void done(void) { puts("DONE\n"); exit(0); }

void fail(const char *why)
{
    printf("FAIL: %s\n", why);
    exit(0x7f);
}

void set_gdt(int idx, u32 base, u32 limit, u32 access, u32 flags)
{
    /* SDM Vol.3 3.4.5 segment descriptor layout; flags = G,D/B,L,AVL nibble */
    u32 lo = (limit & 0xffff) | (base << 16);
    u32 hi = ((base >> 16) & 0xff) | (access << 8) | (limit & 0xf0000)
           | ((flags & 0xf) << 20) | (base & 0xff000000);
    gdt[idx] = ((u64)hi << 32) | lo;
}

void set_idt(int vec, u32 offset, u16 sel, u32 type_attr)
{
    /* SDM Vol.3 6.11 gate descriptor; type_attr = P|DPL|0|type */
    u32 lo = (offset & 0xffff) | ((u32)sel << 16);
    u32 hi = (offset & 0xffff0000) | (type_attr << 8);
    idt[vec] = ((u64)hi << 32) | lo;
}

void reset_idt(int vec) { set_idt(vec, lib_stub_table[vec], SEL_KCODE, 0x8e); }

static struct { u16 limit; u32 base; } __attribute__((packed)) gdtr, idtr;

void reload_gdt(void)
{
    gdtr.limit = sizeof(gdt) - 1; gdtr.base = (u32)gdt;
    asm volatile("lgdt %0" :: "m"(gdtr));
}

static const char *const exc_names[32] = {
    "DE", "DB", "NMI", "BP", "OF", "BR", "UD", "NM", "DF", "CSO", "TS", "NP",
    "SS", "GP", "PF", "R15", "MF", "AC", "MC", "XM", "VE", "CP",
};

void print_frame(struct frame *f)
{
    const char *n = f->vec < 32 ? exc_names[f->vec] : 0;
    printf("  #%s vec=%02x", n ? n : "INT", f->vec);
    if (f->vec == 8 || f->vec == 10 || f->vec == 11 || f->vec == 12 || f->vec == 13 ||
        f->vec == 14 || f->vec == 17)
        printf(" err=%04x", f->err);
    if (f->vec == 14)
        printf(" cr2=%08x", read_cr2());
    if (exc_quiet) { putc('\n'); return; }
    /* #DF: saved CS:EIP are undefined (SDM Vol.3 6.15, interrupt 8) */
    if (f->vec != 8)
        printf(" at %04x:%08x", f->cs & 0xffff, f->eip);
    if (f->eflags & FL_VM)
        printf(" vm86 ss:sp=%04x:%04x", f->ss & 0xffff, f->esp & 0xffff);
    else if ((f->cs & 3) != 0)
        printf(" from ss:esp=%04x:%08x", f->ss & 0xffff, f->esp);
    putc('\n');
}

void exc_dispatch(struct frame *f)
{
    if (handlers[f->vec]) { handlers[f->vec](f); return; }
    last_vec = f->vec;
    last_err = f->err;
    print_frame(f);
    if (recover_eip) {
        f->eip = recover_eip;
        recover_eip = 0;
        return;
    }
    fail("unexpected exception");
}

void lib_init(void)
{
    /* COM1: 115200 8N1, FIFOs off (with FIFOs QEMU transmits from a timer) */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x80);
    outb(COM1 + 0, 0x01);
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);
    outb(COM1 + 2, 0x00);
    outb(COM1 + 4, 0x03);

    /* The firmware leaves the PIT running on IRQ0 at vector 8: remap the
       8259s to 0x20-0x2f and mask every IRQ, so kernels that run with IF=1
       (CPL3, vm86) are not hit by timer interrupts at random points. */
    outb(0x20, 0x11); outb(0xa0, 0x11);
    outb(0x21, 0x20); outb(0xa1, 0x28);
    outb(0x21, 0x04); outb(0xa1, 0x02);
    outb(0x21, 0x01); outb(0xa1, 0x01);
    outb(0x21, 0xff); outb(0xa1, 0xff);

    set_gdt(1, 0, 0xfffff, 0x9a, 0xc);
    set_gdt(2, 0, 0xfffff, 0x92, 0xc);
    set_gdt(3, 0, 0xfffff, 0xfa, 0xc);
    set_gdt(4, 0, 0xfffff, 0xf2, 0xc);
    memset(&lib_tss, 0, sizeof(lib_tss));
    lib_tss.ss0 = SEL_KDATA;
    lib_tss.esp0 = (u32)lib_kstack + sizeof(lib_kstack);
    lib_tss.iomap = (u32)lib_iomap - (u32)&lib_tss;
    memset(lib_iomap, 0xff, sizeof(lib_iomap));
    set_gdt(5, (u32)&lib_tss, (u32)lib_iomap + sizeof(lib_iomap) - (u32)&lib_tss - 1, 0x89, 0);
    set_gdt(6, 0, 0xffff, 0x9a, 0);
    set_gdt(7, 0, 0xffff, 0x92, 0);
    set_gdt(8, 0, 0xfffff, 0x9a, 0xa);
    reload_gdt();
    asm volatile("ljmp %0, $1f\n1:\n\t"
                 "mov %1, %%ds\n\tmov %1, %%es\n\tmov %1, %%fs\n\tmov %1, %%gs\n\tmov %1, %%ss"
                 :: "i"(SEL_KCODE), "r"(SEL_KDATA) : "memory");
    asm volatile("ltr %w0" :: "r"(SEL_TSS));
    asm volatile("lldt %w0" :: "r"(0));   /* no LDT: TI=1 selectors fault */
    for (int i = 0; i < 256; i++) reset_idt(i);
    idtr.limit = sizeof(idt) - 1; idtr.base = (u32)idt;
    asm volatile("lidt %0" :: "m"(idtr));
}
