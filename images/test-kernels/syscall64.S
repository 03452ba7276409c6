/* syscall64: SYSCALL/SYSRET in long mode with STAR/LSTAR/FMASK (SDM Vol.2
   SYSCALL, SYSRET), #UD when EFER.SCE=0, SWAPGS with GS.base and
   KERNEL_GS_BASE, FS/GS base MSRs versus segment-register loads. */
#include "print64.inc"
.macro RDMSR64 msr
    movl $\msr, %ecx
    rdmsr
    shlq $32, %rdx
    movl %eax, %eax
    orq %rdx, %rax
.endm
.macro WRMSR64 msr, val
    movl $\msr, %ecx
    movq \val, %rax
    movq %rax, %rdx
    shrq $32, %rdx
    wrmsr
.endm

    .text
    .code64
    .globl syscall_tests
syscall_tests:
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    /* SCE=0: SYSCALL is #UD */
    leaq 1f(%rip), %r11
    movq %r11, recover_rip(%rip)
    syscall
1:  movq $0, recover_rip(%rip)
    RDMSR64 0xc0000080
    orq $1, %rax                 /* SCE */
    movq %rax, %rdx
    shrq $32, %rdx
    wrmsr
    movabsq $0x0050004000000000, %rax
    WRMSR64 0xc0000081, %rax     /* STAR: SYSCALL CS=0x40, SYSRET base 0x50 */
    leaq sc_entry(%rip), %rax
    WRMSR64 0xc0000082, %rax     /* LSTAR */
    WRMSR64 0xc0000084, $0x4700  /* FMASK: clear TF IF DF NT */
    RDMSR64 0xc0000081
    PR "star", %rax
    RDMSR64 0xc0000084
    PR "fmask", %rax
    /* FS/GS bases */
    leaq fsarea(%rip), %rax
    WRMSR64 0xc0000100, %rax
    movq %fs:0, %rax
    PR "fs:0 via FS.base", %rax
    leaq ugs(%rip), %rax
    WRMSR64 0xc0000101, %rax     /* GS.base (user) */
    leaq kgs(%rip), %rax
    WRMSR64 0xc0000102, %rax     /* KERNEL_GS_BASE */
    movq %gs:0, %rax
    PR "gs:0 before swapgs", %rax
    swapgs
    movq %gs:0, %rax
    PR "gs:0 after swapgs", %rax
    swapgs
    movq %gs:0, %rax
    PR "gs:0 after 2nd swapgs", %rax
    movl $0x10, %eax
    movl %eax, %fs               /* loads the descriptor base (0) */
    RDMSR64 0xc0000100
    PR "fs.base after mov fs", %rax

    /* SYSRET to ring 3, the user code comes back with SYSCALL */
    movq %rsp, ksaved_rsp(%rip)
    leaq user64(%rip), %rcx
    movq $0x3202, %r11           /* IF and IOPL3 in the user RFLAGS */
    leaq ustack_top(%rip), %rsp
    pushfq
    orq $0x400, (%rsp)           /* DF=1 before SYSRET: R11 decides */
    popfq
    sysretq

user64:
    movq %cs, %rax
    movq %rax, urec(%rip)
    movq %ss, %rax
    movq %rax, urec+8(%rip)
    pushfq
    popq %rax
    movq %rax, urec+16(%rip)
    movq %rsp, urec+24(%rip)
    pushq $0x4702                /* TF stays 0; set NT, DF, IF */
    andq $~0x100, (%rsp)
    popfq
    movq $0x77, %rax
    syscall
user_after_syscall:
    jmp .

sc_entry:
    swapgs                       /* GS.base = kernel area */
    movq %rsp, %gs:8             /* save the user RSP */
    movq %rcx, krec(%rip)
    movq %r11, krec+8(%rip)
    movq %cs, %rcx
    movq %rcx, krec+16(%rip)
    movq %ss, %rcx
    movq %rcx, krec+24(%rip)
    pushfq
    popq %rcx
    movq %rcx, krec+32(%rip)
    movq %rax, krec+40(%rip)
    swapgs
    movq ksaved_rsp(%rip), %rsp
    leaq user_after_syscall(%rip), %rax
    movq krec(%rip), %rcx
    subq %rax, %rcx
    PR "rcx - user_after_syscall", %rcx
    movq krec+8(%rip), %rax
    andq $~0x8d5, %rax
    PR "r11 (user rflags)", %rax
    PR "kernel cs", krec+16(%rip)
    PR "kernel ss", krec+24(%rip)
    movq krec+32(%rip), %rax
    andq $~0x8d5, %rax
    PR "kernel rflags", %rax
    PR "rax", krec+40(%rip)
    PR "user cs", urec(%rip)
    PR "user ss", urec+8(%rip)
    movq urec+16(%rip), %rax
    andq $~0x8d5, %rax
    PR "user rflags", %rax
    leaq ustack_top(%rip), %rax
    subq urec+24(%rip), %rax
    PR "user rsp below top", %rax
    leaq ustack_top(%rip), %rax
    subq kgs+8(%rip), %rax
    PR "saved user rsp below top", %rax
    movl $0xc0000080, %ecx
    rdmsr
    andl $~1, %eax
    wrmsr
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    ret

    .data
    .align 16
fsarea: .quad 0xf5f5f5f5f5f5f5f5
ugs: .quad 0x1111111111111111
kgs: .quad 0x2222222222222222, 0
ksaved_rsp: .quad 0
krec: .fill 6, 8, 0
urec: .fill 4, 8, 0
    .bss
    .align 16
ustack: .space 1024
ustack_top:
