/* Shared library of the tsemu test kernels (32-bit protected mode side). */
#ifndef TK_LIB_H
#define TK_LIB_H
#include <stdarg.h>

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;

/* Fixed GDT slots set up by the library (index 9..63 are free for tests). */
#define SEL_KCODE   0x08  /* 32-bit flat code, DPL0 */
#define SEL_KDATA   0x10  /* 32-bit flat data, DPL0 */
#define SEL_UCODE   0x1b  /* 32-bit flat code, DPL3 (RPL3) */
#define SEL_UDATA   0x23  /* 32-bit flat data, DPL3 (RPL3) */
#define SEL_TSS     0x28  /* the library's 32-bit TSS */
#define SEL_CODE16  0x30  /* 16-bit code, base 0, limit 0xffff */
#define SEL_DATA16  0x38  /* 16-bit data, base 0, limit 0xffff */
#define SEL_KCODE64 0x40  /* 64-bit code (L=1), DPL0 */
#define GDT_FREE    9     /* first free GDT index */
#define GDT_ENTRIES 64

/* EFLAGS bits (SDM Vol.1 3.4.3) */
#define FL_CF 0x0001
#define FL_PF 0x0004
#define FL_AF 0x0010
#define FL_ZF 0x0040
#define FL_SF 0x0080
#define FL_TF 0x0100
#define FL_IF 0x0200
#define FL_DF 0x0400
#define FL_OF 0x0800
#define FL_NT 0x4000
#define FL_RF 0x10000
#define FL_VM 0x20000
#define FL_AC 0x40000
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

/* Frame built by the interrupt stubs (lib/start.S). */
struct frame {
    u32 gs, fs, es, ds;
    u32 edi, esi, ebp, esp_pusha, ebx, edx, ecx, eax;
    u32 vec, err;
    u32 eip, cs, eflags;
    u32 esp, ss;                 /* only valid when coming from another CPL */
    u32 v86_es, v86_ds, v86_fs, v86_gs; /* only valid when coming from VM86 */
};

struct tss32 {
    u16 link, _r0;
    u32 esp0; u16 ss0, _r1;
    u32 esp1; u16 ss1, _r2;
    u32 esp2; u16 ss2, _r3;
    u32 cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
    u16 es, _r4, cs, _r5, ss, _r6, ds, _r7, fs, _r8, gs, _r9, ldt, _r10;
    u16 trap, iomap;
} __attribute__((packed));

/* serial + formatting */
void putc(char c);
void puts(const char *s);
void hex8(u32 v);
void hex16(u32 v);
void hex32(u32 v);
void hex64(u64 v);
void printf(const char *fmt, ...);   /* %s %c %u %d %x %08x %llx %016llx */
void exit(u32 code) __attribute__((noreturn)); /* byte to isa-debug-exit */
void done(void) __attribute__((noreturn));     /* prints DONE, exit(0) */
void fail(const char *why) __attribute__((noreturn));

/* descriptor tables */
extern u64 gdt[GDT_ENTRIES];
extern u64 idt[256];
/* The I/O bitmap must follow the TSS within its limit, so both live in one
   object (SDM Vol.1 19.5.2); it ends with an all-ones byte. */
struct lib_tss_block { struct tss32 tss; u8 iomap[8192 + 1]; };
extern struct lib_tss_block lib_tss_block;
#define lib_tss (lib_tss_block.tss)
#define lib_iomap (lib_tss_block.iomap)
extern u32 lib_stub_table[256];   /* address of the asm stub of each vector */
void set_gdt(int idx, u32 base, u32 limit, u32 access, u32 flags);
void set_idt(int vec, u32 offset, u16 sel, u32 type_attr);
void reset_idt(int vec);            /* back to the library stub, DPL0 intr gate */
void reload_gdt(void);

/* exception handling */
typedef void (*handler_t)(struct frame *f);
extern handler_t handlers[256];     /* custom handler per vector (replaces default) */
extern volatile u32 recover_eip;    /* default handler resumes here once */
extern volatile u32 last_vec;       /* last vector seen by the default handler, 0xff=none */
extern volatile u32 last_err;
extern volatile u32 exc_quiet;      /* 1: default handler prints vector/err only */
void print_frame(struct frame *f);

/* Run `insn` (asm text); if it faults, the default handler prints the
   exception and resumes after it; last_vec stays 0xff when nothing was raised.
   TRYN also prints "  no exception" in that case. */
#define TRY(insn, ...) do { last_vec = 0xff; \
    asm volatile("movl $1f, recover_eip\n\t" insn "\n1:\n\tmovl $0, recover_eip" __VA_ARGS__); \
    } while (0)
#define TRYN(insn, ...) do { TRY(insn, __VA_ARGS__); \
    if (last_vec == 0xff) puts("  no exception\n"); } while (0)

static inline void outb(u16 port, u8 v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outw(u16 port, u16 v) { asm volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline u16 inw(u16 port) { u16 v; asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 read_cr0(void) { u32 v; asm volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline u32 read_cr2(void) { u32 v; asm volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline u32 read_cr3(void) { u32 v; asm volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline u32 read_cr4(void) { u32 v; asm volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void write_cr0(u32 v) { asm volatile("mov %0, %%cr0" :: "r"(v) : "memory"); }
static inline void write_cr2(u32 v) { asm volatile("mov %0, %%cr2" :: "r"(v) : "memory"); }
static inline void write_cr3(u32 v) { asm volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }
static inline void write_cr4(u32 v) { asm volatile("mov %0, %%cr4" :: "r"(v) : "memory"); }
static inline u64 rdmsr(u32 msr) { u32 lo, hi; asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr)); return ((u64)hi << 32) | lo; }
static inline void wrmsr(u32 msr, u64 v) { asm volatile("wrmsr" :: "c"(msr), "a"((u32)v), "d"((u32)(v >> 32))); }
static inline void invlpg(u32 a) { asm volatile("invlpg (%0)" :: "r"(a) : "memory"); }
static inline u32 get_eflags(void) { u32 f; asm volatile("pushfl; popl %0" : "=r"(f)); return f; }

void *memset(void *d, int c, u32 n);
void *memcpy(void *d, const void *s, u32 n);

extern u32 mb_magic, mb_info;
void kmain(void);


/* Ring 3: IRET to eip with the given stack and EFLAGS; the user code ends
   with "int $0x7f" and run_user returns its EAX (lib/start.S). */
u32 run_user(u32 eip, u32 esp, u32 eflags);
extern u8 user_stack[4096];
#define USER_STACK_TOP ((u32)user_stack + sizeof(user_stack))

/* Long mode (lib/long.S): run the 64-bit function fn64 with identity
   paging of the first 1 GiB, then come back to protected mode. */
void run_long(void *fn64);
extern u64 lpml4[512], lpdpt[512], lpd[512];

#endif
