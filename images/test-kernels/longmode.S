/* longmode: 64-bit code after the switch done by lib/long.S: 64-bit
   arithmetic and flags, REX registers R8-R15 and the new byte registers,
   32-bit writes zero-extending, RIP-relative addressing, MOVSXD/CDQE/CQO,
   64-bit MUL/DIV, PUSH/POP 64, CMPXCHG16B, compatibility mode (INC opcode
   0x40 vs REX), instructions invalid in 64-bit mode (#UD), non-canonical
   addresses (#GP(0)), NX pages (#PF with I/D). */
#include "print64.inc"
/* SAVEF right after an instruction, PRF after printing its result */
.macro SAVEF
    pushfq
    popq %r15
    andq $0x8d5, %r15
.endm
.macro PRF name
    PR "\name", %r15
.endm
.macro TRY64 insn:vararg
    leaq 8f(%rip), %r11
    movq %r11, recover_rip(%rip)
    \insn
8:  movq $0, recover_rip(%rip)
.endm

    .text
    .code64
    .globl long_tests
long_tests:
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %cs, %rax
    PR "cs", %rax
    movl $0xc0000080, %ecx
    rdmsr
    andl $0xd00, %eax             /* LME, LMA, NXE */
    PR "efer", %rax
    /* arithmetic */
    movabsq $0x7fffffffffffffff, %rax
    addq $1, %rax
    SAVEF
    PR "7fff..+1", %rax
    PRF "flags"
    movabsq $0xffffffffffffffff, %rax
    movq $1, %rbx
    addq %rbx, %rax
    adcq $0, %rbx
    SAVEF
    PR "carry into rbx", %rbx
    PRF "flags"
    movabsq $0x123456789abcdef0, %rax
    movabsq $0x0fedcba987654321, %rdx
    mulq %rdx
    PR "mul lo", %rax
    PR "mul hi", %rdx
    movabsq $0x8000000000000000, %rax
    cqto
    PR "cqo rdx", %rdx
    movq $-7, %rcx
    idivq %rcx
    PR "idiv q", %rax
    PR "idiv r", %rdx
    movabsq $-3, %rax
    movabsq $0x4000000000000001, %rbx
    imulq %rbx, %rax
    PR "imul", %rax
    /* REX registers */
    movabsq $0x0102030405060708, %r8
    movabsq $0x1111111111111111, %r9
    leaq (%r8,%r9,2), %r10
    PR "r10", %r10
    movl $0xffffffff, %r11d
    movq $-1, %r12
    movl %r11d, %r12d             /* 32-bit write zero-extends */
    PR "r12", %r12
    movq $-1, %r13
    movw $0x1234, %r13w           /* 16-bit write keeps the rest */
    movb $0x56, %r13b
    PR "r13", %r13
    movq $0, %rsi
    movb $0x7f, %sil              /* SIL needs REX */
    movb $0x80, %dil
    addb %sil, %dil
    movzbq %dil, %r14
    PR "sil+dil", %r14
    movq $0x1122334455667788, %rax
    movb %ah, %cl                 /* AH only without REX */
    movzbq %cl, %rcx
    PR "ah", %rcx
    xorl %eax, %eax
    notq %rax
    xorl %eax, %eax               /* zero-extends */
    PR "xor eax", %rax
    /* sign extensions */
    movl $0x80000000, %eax
    movslq %eax, %rbx
    PR "movsxd", %rbx
    movl $0x7fffffff, %eax
    cltq
    PR "cdqe", %rax
    movq $0xffff8000, %rax
    cwtl
    PR "cwde", %rax
    /* RIP-relative */
    leaq here(%rip), %rax
    movl $here, %ebx              /* zero-extended 32-bit absolute address */
    subq %rbx, %rax
    PR "rip-rel minus abs", %rax
    movq qdata(%rip), %rax
    PR "rip-rel load", %rax
    /* 64-bit stack */
    movq %rsp, %rbx
    pushq $-2
    pushw $0x1234
    movq %rbx, %rcx
    subq %rsp, %rcx
    PR "push q+w bytes", %rcx
    addq $2, %rsp
    popq %rax
    PR "popped", %rax
    /* CMPXCHG16B: 16-byte aligned operand */
    leaq c16(%rip), %rdi
    movq $1, %rax
    movq $2, %rdx
    movq $0xaaaa, %rbx
    movq $0xbbbb, %rcx
    lock cmpxchg16b (%rdi)
    SAVEF
    PRF "cx16 flags (eq)"
    PR "c16 lo", 0(%rdi)
    PR "c16 hi", 8(%rdi)
    movq $1, %rax
    lock cmpxchg16b (%rdi)
    SAVEF
    PRF "cx16 flags (ne)"
    PR "rax", %rax
    PR "rdx", %rdx
here:
    /* compatibility mode: 0x40 is INC EAX there, a REX prefix here */
    movl $5, %eax
    .byte 0x40
    nop
    PR "0x40 in 64-bit: eax", %rax
    leaq cm_back(%rip), %rax
    movl %eax, cm_ret(%rip)
    movl $5, %eax
    ljmpl *cm_ptr(%rip)
cm_back:
    movl %eax, %eax               /* upper halves are undefined after compatibility mode */
    movl %ebx, %ebx
    PR "compat: eax after inc", %rax
    PR "compat: cs seen", %rbx
    /* exceptions */
    TRY64 .byte 0x06              /* PUSH ES: #UD in 64-bit mode */
    TRY64 .byte 0x60              /* PUSHA */
    TRY64 .byte 0xd4, 0x0a        /* AAM */
    movabsq $0x0000800000000000, %rbx
    TRY64 movq (%rbx), %rax       /* non-canonical: #GP(0) */
    movabsq $0xffff7fffffffffff, %rbx
    TRY64 movq %rax, (%rbx)
    movq $0x40000000, %rbx        /* beyond the 1 GiB mapped: #PF */
    TRY64 movq (%rbx), %rax
    /* NX: EFER.NXE and bit 63 on the PDE of 2 MiB page 3 */
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x800, %eax
    wrmsr
    leaq lpd(%rip), %rbx
    btsq $63, 3 * 8(%rbx)
    invlpg 0x600000
    movq $0x600000, %rax
    movb $0xc3, (%rax)            /* RET: data writes still work */
    TRY64 call *%rax              /* fetch: #PF err=0x11 */
    addq $8, %rsp                 /* drop the return address the CALL pushed */
    btrq $63, 3 * 8(%rbx)
    invlpg 0x600000
    movq $0x600000, %rax
    call *%rax
    PR "executed after NX cleared", %rax
    leaq lpd(%rip), %rbx
    movq 3 * 8(%rbx), %rax
    andq $0x1ff, %rax
    PR "pde3 flags (A, D)", %rax

    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    ret

    .code32
compat_code:
    incl %eax                     /* opcode 0x40 */
    movl %cs, %ebx
    ljmp *cm_ret
    .code64

    .data
    .align 16
c16: .quad 1, 2
qdata: .quad 0xfeedfacecafebeef
cm_ptr: .long compat_code
    .word 0x08
cm_ret: .long 0
    .word 0x40
