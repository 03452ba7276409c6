/* realmode: leave protected mode through a 16-bit segment and CR0.PE=0
   (SDM Vol.3 10.9.2), run real-mode code, come back to protected mode.
   The 16-bit blob is copied to linear 0x8000 and runs with CS=0x0800;
   results go to a word array in the blob that C prints afterwards. */
#define SEL_CODE16 0x48   /* base 0x8000, set by realmode.c */
#define SEL_DATA16 0x50
#define RM_SEG 0x0800
#define O(x) ((x) - rm_start)
/* append a 16-bit value to the results (CS points at the blob) */
.macro RES reg
    movw \reg, %cs:O(res_tmp)       /* first, so SP and BX are captured as they are */
    pushw %bx
    pushw %ax
    movw %cs:O(res_idx), %bx
    movw %cs:O(res_tmp), %ax
    movw %ax, %cs:O(results)(%bx)
    addw $2, %cs:O(res_idx)
    popw %ax
    popw %bx
.endm

    .text
    .globl run_realmode
run_realmode:
    pushal
    movl %esp, saved_esp
    sidt saved_idtr
    cli
    ljmp $SEL_CODE16, $O(rm_entry16)

    .code16
    .globl rm_start
rm_start:
rm_entry16:
    /* still protected mode, 16-bit code: give every segment a 64 KiB
       real-mode-like cache before PE is cleared */
    movw $SEL_DATA16, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    lidt %cs:O(rm_idtr)
    movl %cr0, %eax
    andl $~1, %eax
    movl %eax, %cr0
    ljmp $RM_SEG, $O(rm_real)
rm_real:
    movw $RM_SEG, %ax
    movw %ax, %ds
    movw %ax, %ss
    movw $0xfff0, %sp
    xorw %ax, %ax
    movw %ax, %es
    /* CR0.PE must read back 0 */
    movl %cr0, %eax
    andw $1, %ax
    RES %ax
    /* 16-bit arithmetic with flags */
    movw $0x7fff, %ax
    addw $1, %ax
    pushfw
    popw %dx
    andw $0x8d5, %dx
    RES %ax
    RES %dx
    movw $0x1234, %ax
    movw $0x100, %cx
    mulw %cx
    RES %ax
    RES %dx
    movw $0x0003, %dx
    movw $0x0007, %ax
    movw $0x10, %cx
    divw %cx
    RES %ax
    RES %dx
    /* 32-bit operand size in real mode (0x66) */
    movl $0x89abcdef, %eax
    addl $0x77654322, %eax
    pushfw
    popw %dx
    andw $0x8d5, %dx
    RES %ax
    shrl $16, %eax
    RES %ax
    RES %dx
    /* segment:offset: ES=0x1234:0x0010 and DS=0x1235:0x0000 are the same
       linear byte 0x12350 */
    movw $0x1234, %ax
    movw %ax, %es
    movw $0x10, %di
    movw $0xa55a, %es:(%di)
    movw $0x1235, %ax
    movw %ax, %fs
    movw %fs:0, %ax
    RES %ax
    /* the same byte through a 32-bit address with a 0x67 prefix: linear
       = GS*16 + offset; the offset must stay within the 64 KiB limit */
    movw $0x1000, %ax
    movw %ax, %gs
    movl $0x2350, %ebx
    movw %gs:(%ebx), %ax
    RES %ax
    /* 16-bit addressing forms */
    movw $RM_SEG, %ax
    movw %ax, %es
    movw $O(table), %bx
    movw $2, %si
    movw $4, %di
    movw (%bx,%si), %ax
    RES %ax
    movw 2(%bx,%di), %ax
    RES %ax
    movw %bx, %bp
    movw (%bp,%si), %ax          /* BP defaults to SS, SS=DS here */
    RES %ax
    /* INT through the IVT: the handler sees FLAGS/CS/IP on the stack */
    xorw %ax, %ax
    movw %ax, %es
    movw $O(int60), %es:(0x60 * 4)
    movw $RM_SEG, %es:(0x60 * 4 + 2)
    movw $O(int_de), %es:0
    movw $RM_SEG, %es:2
    pushw $0x0202                /* IF=1 before INT; the handler sees IF=0 */
    popfw
    movw $0x1111, %ax
    int $0x60
    RES %ax
    pushfw
    popw %ax
    andw $0x0200, %ax
    RES %ax                      /* IRET restored IF */
    cli
    movw %sp, %ax
    RES %ax
    /* #DE in real mode is delivered through IVT entry 0, IP = the DIV */
    xorw %cx, %cx
    movw $5, %ax
    xorw %dx, %dx
de_insn:
    divw %cx
de_resume:
    RES %ax
    /* PUSHA/POPA */
    movw $0xa1, %ax
    movw $0xc1, %cx
    movw $0xd1, %dx
    movw $0xb1, %bx
    movw $0x51, %bp
    movw $0x52, %si
    movw $0x53, %di
    pushaw
    movw %sp, %bp
    movw 6(%bp), %ax             /* saved SP */
    RES %ax
    movw 14(%bp), %ax            /* saved AX */
    RES %ax
    movw $0xeeee, 8(%bp)         /* new BX */
    popaw
    RES %bx
    RES %sp
    /* string ops with 16-bit addressing across segments */
    movw $RM_SEG, %ax
    movw %ax, %ds
    movw $0x2000, %ax
    movw %ax, %es
    movw $O(table), %si
    movw $0x100, %di
    movw $4, %cx
    cld
    rep movsw
    RES %si
    RES %di
    RES %cx
    movw %es:0x104, %ax
    RES %ax
    std
    movw $0x106, %di
    movw $0x5aa5, %ax
    movw $2, %cx
    rep stosw
    cld
    RES %di
    movw %es:0x104, %ax
    RES %ax
    movw $0x100, %di
    movw $0x5aa5, %ax
    movw $8, %cx
    repne scasw
    RES %cx
    RES %di
    /* far call and RETF, LOOP with CX */
    lcall $RM_SEG, $O(farfunc)
    RES %ax
    movw $5, %cx
    xorw %ax, %ax
1:  addw %cx, %ax
    loop 1b
    RES %ax
    /* back to protected mode */
    cli
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $pm_back

int60:
    pushw %bp
    movw %sp, %bp
    movw 2(%bp), %ax             /* IP pushed by INT */
    RES %ax
    movw 4(%bp), %ax             /* CS */
    RES %ax
    movw 6(%bp), %ax             /* FLAGS */
    andw $0x0200, %ax
    RES %ax
    pushfw                       /* IF cleared by INT */
    popw %ax
    andw $0x0300, %ax
    RES %ax
    movw %sp, %ax
    RES %ax
    popw %bp
    movw $0x2222, %ax
    iret

int_de:
    pushw %bp
    movw %sp, %bp
    movw 2(%bp), %ax
    subw $O(de_insn), %ax        /* 0: points at the faulting DIV */
    RES %ax
    movw $O(de_resume), 2(%bp)
    popw %bp
    movw $0xde, %ax
    iret

farfunc:
    movw %sp, %bp
    movw 2(%bp), %ax             /* pushed CS */
    lret

    .align 2
table: .word 0x1001, 0x2002, 0x3003, 0x4004, 0x5005
rm_idtr: .word 0x3ff
         .long 0
res_idx: .word 0
res_tmp: .word 0
    .globl results
results: .fill 64, 2, 0xffff
    .globl rm_end
rm_end:

    .code32
pm_back:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %fs
    movl %eax, %gs
    movl %eax, %ss
    movl saved_esp, %esp
    lidt saved_idtr
    popal
    ret

    .data
saved_esp: .long 0
saved_idtr: .word 0
    .long 0
