/* vm86: asm part. run_v86(eflags) enters virtual-8086 mode with IRET
   (VM=1 in the EFLAGS image, SDM Vol.3 20.2.5); the 16-bit blob (copied to
   0x8000) leaves with INT 0x32 whose DPL3 gate leads to v86_exit. */
#define O(x) ((x) - v86_start)
    .text
    .code32
    .globl run_v86, v86_exit
run_v86:
    pushal
    movl %esp, v86_saved_esp
    movl 36(%esp), %eax
    pushl $0x0a00                /* GS */
    pushl $0x0900                /* FS */
    pushl $0x0800                /* DS */
    pushl $0x0700                /* ES */
    pushl $0x0800                /* SS */
    pushl $0xfff0                /* ESP */
    pushl %eax                   /* EFLAGS with VM */
    pushl $0x0800                /* CS */
    pushl $0                     /* EIP */
    iret
v86_exit:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %fs
    movl %eax, %gs
    movl v86_saved_esp, %esp
    popal
    ret

    .code16
    .globl v86_start, v86_end
v86_start:
    movw $0x1234, %ax
    addw $0x1111, %ax
    movw %ax, O(v86_res)         /* DS = 0x0800 */
    movw $0x5678, %bx
    int $0x30                    /* DPL3 gate: handled in protected mode */
    movw %bx, O(v86_res) + 2
    cli                          /* IOPL<3: #GP(0) */
    sti
    pushfw                       /* IOPL<3: #GP(0) */
    popw %ax
    int $0x31                    /* IOPL<3: #GP(0); IOPL=3: DPL0 gate -> #GP(0x31*8+2) */
    movw $0x3ff, %dx
    movb $0x77, %al
    outb %al, %dx                /* I/O bitmap decides, not IOPL */
    inb %dx, %al
    movb %al, O(v86_res) + 4
    movw $0x3fe, %dx
    inb %dx, %al                 /* denied in the bitmap: #GP(0) */
    movl %cr0, %eax              /* privileged: #GP(0) */
    hlt                          /* #GP(0) */
    movw %es, %ax
    movw %ax, O(v86_res) + 6
    movw %ss, %ax
    movw %ax, O(v86_res) + 8
    int $0x32
    .globl v86_res
v86_res: .fill 8, 2, 0xeeee
v86_end:
    .code32
    .data
v86_saved_esp: .long 0
