/* platform: the pc machine's PCI platform, fw_cfg and CMOS as firmware leaves them.
   - PCI configuration mechanism #1 (PCI 3.0 §3.2.2.3.2): CONFIG_ADDRESS read-back, the enable
     bit, other buses, byte/word accesses of CONFIG_DATA; every function on bus 0 with its IDs,
     class, header type, command, interrupt pin/line and BAR sizes (all ones written, PCI 3.0
     §6.2.5.1); writable and read-only header bits; the i440FX PAM registers (82441FX §3.2.21) and
     what they do to writes below 1 MiB; PIIX3 PIRQ routes; PIIX4 PM registers and the ACPI PM
     timer, SCI_EN through the APM port.
   - fw_cfg (QEMU docs/specs/fw_cfg.txt): signature, ID, DMA signature, fixed keys, the file
     directory and some files, traditional and DMA reads, DMA skip/select, and the error bit for
     buffers outside RAM and writes to read-only items.
   - CMOS: the memory-size, equipment, drive and boot-order bytes QEMU fills in.
   Left out on purpose: files that depend on -kernel (bootorder, genroms/multiboot_dma.bin) or
   that tsemu builds elsewhere (ACPI, SMBIOS, TPM log), ROM contents, time. */
#include "lib.h"

static inline void outl(u16 port, u32 v) { asm volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline u32 inl(u16 port) { u32 v; asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

#define CFG(dev, fn, reg) (0x80000000u | ((dev) << 11) | ((fn) << 8) | ((reg) & 0xfc))
static u32 cfg_read32(int dev, int fn, int reg) { outl(0xcf8, CFG(dev, fn, reg)); return inl(0xcfc); }
static u16 cfg_read16(int dev, int fn, int reg) { outl(0xcf8, CFG(dev, fn, reg)); return inw(0xcfc + (reg & 2)); }
static u8 cfg_read8(int dev, int fn, int reg) { outl(0xcf8, CFG(dev, fn, reg)); return inb(0xcfc + (reg & 3)); }
static void cfg_write32(int dev, int fn, int reg, u32 v) { outl(0xcf8, CFG(dev, fn, reg)); outl(0xcfc, v); }
static void cfg_write16(int dev, int fn, int reg, u16 v) { outl(0xcf8, CFG(dev, fn, reg)); outw(0xcfc + (reg & 2), v); }
static void cfg_write8(int dev, int fn, int reg, u8 v) { outl(0xcf8, CFG(dev, fn, reg)); outb(0xcfc + (reg & 3), v); }

static void mechanism(void)
{
    puts("config mechanism #1\n");
    outl(0xcf8, 0x80000008);
    printf("  address read back %08x\n", inl(0xcf8));
    outl(0xcf8, 0x80000000);
    printf("  00.0 id %08x, bytes %02x %02x %02x %02x, words %04x %04x\n", inl(0xcfc),
           inb(0xcfc), inb(0xcfd), inb(0xcfe), inb(0xcff), inw(0xcfc), inw(0xcfe));
    outl(0xcf8, 0x00000000);
    printf("  enable bit clear: %08x\n", inl(0xcfc));
    outl(0xcf8, 0x80010000);
    printf("  bus 1: %08x\n", inl(0xcfc));
    outl(0xcf8, 0x80001000);
    printf("  00:02.0 (absent): %08x\n", inl(0xcfc));
}

static void bars(int dev, int fn)
{
    u16 cmd = cfg_read16(dev, fn, 0x04);
    /* No decoding while the BARs hold all ones. */
    cfg_write16(dev, fn, 0x04, cmd & ~3);
    for (int i = 0; i < 6; i++) {
        int reg = 0x10 + 4 * i;
        u32 old = cfg_read32(dev, fn, reg);
        cfg_write32(dev, fn, reg, 0xffffffff);
        u32 probe = cfg_read32(dev, fn, reg);
        cfg_write32(dev, fn, reg, old);
        if (!probe)
            continue;
        if (probe & 1)
            printf("    bar%d io size %u (value %08x)\n", i, ~(probe & ~3u) + 1, old);
        else
            printf("    bar%d mem%s size 0x%x (value %08x)\n", i, probe & 8 ? " prefetchable" : "",
                   ~(probe & ~15u) + 1, old);
    }
    u32 rom = cfg_read32(dev, fn, 0x30);
    cfg_write32(dev, fn, 0x30, 0xfffff800);
    printf("    rom bar reads %08x\n", cfg_read32(dev, fn, 0x30));
    cfg_write32(dev, fn, 0x30, rom);
    cfg_write16(dev, fn, 0x04, cmd);
}

/* Which header bits stick: write all ones, read, write zeros, read, restore. */
static void masks(int dev, int fn)
{
    static const u8 regs[] = { 0x04, 0x0c, 0x3c };
    for (unsigned i = 0; i < sizeof regs; i++) {
        u32 old = cfg_read32(dev, fn, regs[i]);
        /* keep decoding on while probing the command register's other bits */
        u32 keep = regs[i] == 0x04 ? (old & 3) : 0;
        cfg_write32(dev, fn, regs[i], 0xffffffff);
        u32 ones = cfg_read32(dev, fn, regs[i]);
        cfg_write32(dev, fn, regs[i], keep);
        u32 zeros = cfg_read32(dev, fn, regs[i]);
        cfg_write32(dev, fn, regs[i], old);
        printf("    reg %02x: ones->%08x zeros->%08x\n", regs[i], ones, zeros);
    }
}

static void walk(void)
{
    puts("bus 0\n");
    int n = 0;
    for (int dev = 0; dev < 32; dev++) {
        for (int fn = 0; fn < 8; fn++) {
            u32 id = cfg_read32(dev, fn, 0);
            if ((id & 0xffff) == 0xffff) {
                if (fn == 0)
                    break;
                continue;
            }
            n++;
            u32 class = cfg_read32(dev, fn, 0x08);
            u8 header = cfg_read8(dev, fn, 0x0e);
            printf("  %02x.%x %04x:%04x class %06x rev %02x header %02x subsys %08x\n", dev, fn,
                   id & 0xffff, id >> 16, class >> 8, class & 0xff, header, cfg_read32(dev, fn, 0x2c));
            printf("    command %04x status %04x pin %u line %u\n", cfg_read16(dev, fn, 0x04),
                   cfg_read16(dev, fn, 0x06), cfg_read8(dev, fn, 0x3d), cfg_read8(dev, fn, 0x3c));
            bars(dev, fn);
            masks(dev, fn);
            if (fn == 0 && !(header & 0x80))
                break;
        }
    }
    printf("  %d functions\n", n);
}

static volatile u8 *const low = (volatile u8 *)0;

static int writable(u32 addr)
{
    u8 old = low[addr];
    low[addr] = old ^ 0x5a;
    int w = low[addr] == (u8)(old ^ 0x5a);
    low[addr] = old;
    return w;
}

static void chipset(void)
{
    puts("i440FX\n");
    printf("  pam");
    for (int r = 0x59; r <= 0x5f; r++)
        printf(" %02x", cfg_read8(0, 0, r));
    printf(", dramc-byte %02x, smram %02x\n", cfg_read8(0, 0, 0x57), cfg_read8(0, 0, 0x72));
    /* PAM1-6 hold two 16 KiB segments each from 0xC0000 (low nibble first), PAM0's high nibble
       is 0xF0000-0xFFFFF. 0xC0000-0xC2FFF is left out: QEMU's kvmvapic device makes its option
       ROM's shadow pages writable again, which tsemu does not emulate. */
    printf("  writable: c4000=%d cc000=%d d8000=%d dc000=%d e0000=%d e8000=%d ec000=%d f0000=%d ff000=%d 9f000=%d 300000=%d\n",
           writable(0xc4000), writable(0xcc000), writable(0xd8000), writable(0xdc000), writable(0xe0000),
           writable(0xe8000), writable(0xec000), writable(0xf0000), writable(0xff000), writable(0x9f000),
           writable(0x300000));
    /* Make 0xE0000-0xE3FFF (PAM5 low) read/write, write, back to read-only: the byte stays. */
    u8 pam = cfg_read8(0, 0, 0x5e);
    cfg_write8(0, 0, 0x5e, (pam & 0xf0) | 0x3);
    low[0xe0010] = 0xa5;
    int rw = writable(0xe0010);
    cfg_write8(0, 0, 0x5e, (pam & 0xf0) | 0x1);
    printf("  e0000 rw: writable=%d; ro again: byte=%02x writable=%d\n", rw, low[0xe0010], writable(0xe0010));
    /* Write-only (WE without RE): QEMU 7.2 makes the segment plain read/write RAM. */
    cfg_write8(0, 0, 0x5e, (pam & 0xf0) | 0x2);
    low[0xe0010] = 0x3c;
    u8 wo = low[0xe0010];
    cfg_write8(0, 0, 0x5e, pam);
    printf("  write-only mode: read back %02x, byte afterwards %02x\n", wo, low[0xe0010]);
    /* The SMRAM window: with D_OPEN, 0xA0000 is RAM; closed, PCI has it, but without a VGA
       nothing there answers and QEMU shows the RAM below. */
    u8 smram = cfg_read8(0, 0, 0x72);
    cfg_write8(0, 0, 0x72, smram | 0x40);
    low[0xa0000] = 0x77;
    u8 open = low[0xa0000];
    cfg_write8(0, 0, 0x72, smram);
    printf("  smram open: a0000=%02x closed: %02x\n", open, low[0xa0000]);

    puts("PIIX3\n");
    printf("  pirq routes %08x, tom %02x, xbcs %02x, 4c %02x\n", cfg_read32(1, 0, 0x60),
           cfg_read8(1, 0, 0x69), cfg_read8(1, 0, 0x4e), cfg_read8(1, 0, 0x4c));
    printf("  elcr %02x %02x\n", inb(0x4d0), inb(0x4d1));
    puts("PIIX3 IDE\n");
    printf("  idetim %04x %04x\n", cfg_read16(1, 1, 0x40), cfg_read16(1, 1, 0x42));
}

static void pm(void)
{
    puts("PIIX4 PM\n");
    u32 base = cfg_read32(1, 3, 0x40);
    printf("  pmba %08x pmregmisc %02x devactb %08x smbba %08x smbhstcfg %02x 67=%02x\n", base,
           cfg_read8(1, 3, 0x80), cfg_read32(1, 3, 0x58), cfg_read32(1, 3, 0x90),
           cfg_read8(1, 3, 0xd2), cfg_read8(1, 3, 0x67));
    u16 io = base & 0xffc0;
    /* The PM timer: 24 bits at 3.579545 MHz (ACPI §4.8.3.3). */
    u32 t0 = inl(io + 8);
    for (volatile int i = 0; i < 20000; i++)
        ;
    u32 t1 = inl(io + 8);
    printf("  timer below 2^24: %d %d, advances: %d\n", t0 < 0x1000000, t1 < 0x1000000, ((t1 - t0) & 0xffffff) != 0);
    outw(io + 0, 0x0001); /* clear TMR_STS */
    printf("  pm1 sts %04x en %04x cnt %04x\n", inw(io) & ~1, inw(io + 2), inw(io + 4));
    printf("  unimplemented offset 0x20 reads %02x\n", inb(io + 0x20));
    outb(0xb2, 0xf1); /* ACPI_ENABLE */
    printf("  after ACPI enable: cnt %04x apmc %02x\n", inw(io + 4), inb(0xb2));
    outb(0xb2, 0xf0); /* ACPI_DISABLE */
    printf("  after ACPI disable: cnt %04x\n", inw(io + 4));
    outb(0xb3, 0x42);
    printf("  apms %02x\n", inb(0xb3));
    outw(io + 2, 0x0120);
    printf("  enable bits: en %04x\n", inw(io + 2));
    outw(io + 2, 0);
    printf("  gpe0 %08x\n", inl(0xafe0));
    /* Moving the PM block: the old base stops decoding, the new one starts. */
    cfg_write32(1, 3, 0x40, 0xb001);
    printf("  moved to b000: old en %04x, new en %04x\n", inw(io + 2), inw(0xb002));
    outw(0xb002, 0x0100);
    cfg_write32(1, 3, 0x40, base);
    printf("  back at %04x: en %04x\n", io, inw(io + 2));
    outw(io + 2, 0);
    cfg_write8(1, 3, 0x80, 0);
    printf("  pmregmisc 0: timer port reads %08x\n", inl(io + 8));
    cfg_write8(1, 3, 0x80, 1);
}

/* fw_cfg */
static void fw_select(u16 key) { outw(0x510, key); }
static void fw_read(void *buf, u32 n) { u8 *p = buf; while (n--) *p++ = inb(0x511); }
static u32 be32(u32 v) { return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24); }
static u16 be16(u16 v) { return (u16)((v >> 8) | (v << 8)); }

struct fw_file { u32 size; u16 select; u16 reserved; char name[56]; };
static struct fw_file files[32];
static u32 nfiles;

static int starts(const char *s, const char *p) { while (*p) if (*s++ != *p++) return 0; return 1; }
static int same(const char *a, const char *b) { while (*a && *a == *b) a++, b++; return *a == *b; }

static struct fw_file *find(const char *name)
{
    for (u32 i = 0; i < nfiles; i++)
        if (same(files[i].name, name))
            return &files[i];
    return 0;
}

static void dump_key(const char *what, u16 key, u32 n)
{
    u8 b[32];
    fw_select(key);
    fw_read(b, n);
    printf("  %s:", what);
    for (u32 i = 0; i < n; i++)
        printf(" %02x", b[i]);
    putc('\n');
}

struct dma { u32 control, length; u32 addr_hi, addr_lo; } __attribute__((aligned(16)));
static volatile struct dma d;
static u8 dmabuf[64];

/* One DMA operation; the device writes RAM behind the compiler's back (memory clobber). */
static u32 dma(u32 control, u32 length, u32 addr)
{
    d.control = be32(control);
    d.length = be32(length);
    d.addr_hi = 0;
    d.addr_lo = be32(addr);
    outl(0x514, 0);
    asm volatile("outl %0, %1" :: "a"(be32((u32)&d)), "Nd"(0x518) : "memory");
    return be32(d.control);
}

static void fwcfg(void)
{
    puts("fw_cfg\n");
    char sig[5] = { 0 };
    fw_select(0);
    fw_read(sig, 4);
    u32 id;
    fw_select(1);
    fw_read(&id, 4);
    printf("  signature %s id %08x dma register reads %08x %08x\n", sig, id, inl(0x514), inl(0x518));
    fw_select(0x4000);
    printf("  selector 0x4000 reads %02x, selector 0x40 reads %02x\n", inb(0x511), (fw_select(0x40), inb(0x511)));
    fw_select(0);
    printf("  16-bit read of the selector port %04x, data port byte read at 0x510 %02x\n", inw(0x510), inb(0x510));
    dump_key("ram size", 0x03, 8);
    dump_key("nographic", 0x04, 2);
    dump_key("nb cpus", 0x05, 2);
    dump_key("max cpus", 0x0f, 2);
    dump_key("boot menu", 0x0e, 2);
    dump_key("numa", 0x0d, 16);
    dump_key("uuid", 0x02, 16);
    dump_key("irq0 override", 0x8002, 4);
    dump_key("e820 legacy", 0x8003, 4);

    fw_select(0x19);
    fw_read(&nfiles, 4);
    nfiles = be32(nfiles);
    if (nfiles > 32)
        nfiles = 32;
    fw_read(files, nfiles * sizeof files[0]);
    for (u32 i = 0; i < nfiles; i++) {
        files[i].size = be32(files[i].size);
        files[i].select = be16(files[i].select);
    }
    puts("  files (without ACPI, SMBIOS, TPM, -kernel ones):\n");
    for (u32 i = 0; i < nfiles; i++) {
        const char *n = files[i].name;
        if (starts(n, "etc/acpi/") || starts(n, "etc/smbios/") || starts(n, "etc/tpm/") || same(n, "etc/table-loader") ||
            same(n, "bootorder") || starts(n, "genroms/multiboot") || starts(n, "genroms/linuxboot"))
            continue;
        printf("    %s size %u\n", n, files[i].size);
    }
    static const char *const show[] = { "etc/e820", "etc/boot-fail-wait", "etc/system-states" };
    for (unsigned k = 0; k < 3; k++) {
        struct fw_file *f = find(show[k]);
        if (!f)
            continue;
        u8 b[64];
        u32 n = f->size < 60 ? f->size : 60;
        fw_select(f->select);
        fw_read(b, n + 4); /* past the end reads 0 */
        printf("  %s:", show[k]);
        for (u32 i = 0; i < n + 4; i++)
            printf(" %02x", b[i]);
        putc('\n');
    }

    /* DMA: select + read, then skip + read, then errors. */
    struct fw_file *e820 = find("etc/e820");
    if (e820) {
        memset(dmabuf, 0xee, sizeof dmabuf);
        u32 st = dma((e820->select << 16) | 0x08 | 0x02, 8, (u32)dmabuf);
        printf("  dma select+read: control %08x data %02x%02x%02x%02x%02x%02x%02x%02x\n", st, dmabuf[0], dmabuf[1],
               dmabuf[2], dmabuf[3], dmabuf[4], dmabuf[5], dmabuf[6], dmabuf[7]);
        st = dma(0x04, 12, 0);
        u32 st2 = dma(0x02, 48, (u32)dmabuf);
        printf("  skip 12 then read 48: control %08x %08x, bytes 0..3 %02x %02x %02x %02x, tail %02x %02x (zero fill)\n", st,
               st2, dmabuf[0], dmabuf[1], dmabuf[2], dmabuf[3], dmabuf[40], dmabuf[47]);
        st = dma((e820->select << 16) | 0x08 | 0x10, 4, (u32)dmabuf);
        printf("  write to a read-only file: control %08x\n", st);
    }
    u32 st = dma((0x7000 << 16) | 0x08 | 0x02, 16, (u32)dmabuf);
    printf("  read of an empty key: control %08x first byte %02x\n", st, dmabuf[0]);
    st = dma((0x00 << 16) | 0x08 | 0x02, 4, 0xf0000000);
    printf("  read into a hole above RAM: control %08x\n", st);
    st = dma((0x00 << 16) | 0x08 | 0x02, 4, 0xa0000);
    printf("  read into the VGA window (RAM without a VGA): control %08x\n", st);
    st = dma(0x00, 4, (u32)dmabuf);
    printf("  no operation: control %08x\n", st);
}

static u8 cmos(u8 i) { outb(0x70, i | 0x80); return inb(0x71); }

static void nvram(void)
{
    static const u8 idx[] = { 0x10, 0x12, 0x14, 0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35,
                              0x37, 0x38, 0x3d, 0x5b, 0x5c, 0x5d, 0x5f };
    puts("cmos\n ");
    for (unsigned i = 0; i < sizeof idx; i++)
        printf(" %02x=%02x", idx[i], cmos(idx[i]));
    putc('\n');
}

void kmain(void)
{
    mechanism();
    walk();
    chipset();
    pm();
    fwcfg();
    nvram();
}
