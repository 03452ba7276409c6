/* Long mode support for the test kernels.
   void run_long(u32 fn64): enables PAE + EFER.LME + paging (4-level tables
   identity-mapping the first 1 GiB with 2 MiB pages), far-jumps to the
   64-bit CS 0x40, installs a 64-bit IDT, calls fn64 (a 64-bit function),
   then returns to 32-bit protected mode through compatibility mode with
   paging off (SDM Vol.3 10.8.5, 10.8.5.4).
   64-bit helpers (all registers preserved): print64_str(rdi), print64_kv(rdi
   = name, rsi = value): "name=%016llx\n". Exceptions in 64-bit mode print
   "  #vec err=... rip=..." and resume at recover_rip (else fail). */
    .text
    .code32
    .globl run_long
run_long:
    pushal
    movl 36(%esp), %eax
    movl %eax, long_fn
    movl %esp, long_saved_esp
    sidt long_saved_idtr
    /* page tables: PML4[0] -> PDPT; PDPT[0] -> PD; PD[i] = i*2MiB | PS|RW|P */
    movl $lpml4, %edi
    movl $lpdpt, %eax
    orl $0x7, %eax
    movl %eax, (%edi)
    movl $lpdpt, %edi
    movl $lpd, %eax
    orl $0x7, %eax
    movl %eax, (%edi)
    movl $lpd, %edi
    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $21, %eax
    orl $0x87, %eax
    movl %eax, (%edi,%ecx,8)
    movl $0, 4(%edi,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jb 1b
    /* 64-bit IDT: interrupt gates to the 64-bit stubs */
    xorl %ecx, %ecx
2:  movl %ecx, %eax
    shll $4, %eax
    addl $lstubs, %eax
    movl %ecx, %edx
    shll $4, %edx
    movw %ax, lidt64(%edx)
    movw $0x40, lidt64+2(%edx)
    movw $0x8e00, lidt64+4(%edx)
    shrl $16, %eax
    movw %ax, lidt64+6(%edx)
    movl $0, lidt64+8(%edx)
    movl $0, lidt64+12(%edx)
    incl %ecx
    cmpl $32, %ecx
    jb 2b

    movl %cr4, %eax
    orl $0x20, %eax              /* PAE */
    movl %eax, %cr4
    movl $lpml4, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x100, %eax             /* LME */
    wrmsr
    movl %cr0, %eax
    orl $0x80000000, %eax
    movl %eax, %cr0              /* now IA32e compatibility mode */
    ljmp $0x40, $lm_entry

    .code64
lm_entry:
    lidt lidtr64(%rip)
    movl long_saved_esp(%rip), %esp   /* zero-extends: RSP is defined */
    andq $-16, %rsp
    movl long_fn(%rip), %eax
    call *%rax
    /* back: through a 32-bit compatibility-mode segment */
    pushq $0x08
    leaq lm_exit32(%rip), %rax
    pushq %rax
    lretq

    .code32
lm_exit32:
    movl %cr0, %eax
    andl $0x7fffffff, %eax
    movl %eax, %cr0              /* paging off -> LMA=0, protected mode */
    movl $0xc0000080, %ecx
    rdmsr
    andl $~0x100, %eax
    wrmsr
    movl %cr4, %eax
    andl $~0x20, %eax
    movl %eax, %cr4
    movl long_saved_esp, %esp
    lidt long_saved_idtr
    popal
    ret

    .code64
    .globl print64_str, print64_kv, print64_hex
print64_str:
    pushq %rax
    pushq %rdx
    pushq %rdi
1:  movb (%rdi), %al
    testb %al, %al
    jz 2f
    call putc64
    incq %rdi
    jmp 1b
2:  popq %rdi
    popq %rdx
    popq %rax
    ret
/* AL = char; preserves everything but flags */
putc64:
    pushq %rax
    pushq %rdx
    movb %al, %ah
    movw $0x3fd, %dx
1:  inb %dx, %al
    testb $0x20, %al
    jz 1b
    movb %ah, %al
    movw $0x3f8, %dx
    outb %al, %dx
    popq %rdx
    popq %rax
    ret
print64_hex:                     /* RSI as 16 hex digits */
    pushq %rax
    pushq %rcx
    pushq %rsi
    movl $16, %ecx
1:  rolq $4, %rsi
    movl %esi, %eax
    andl $15, %eax
    pushq %rdx
    leaq hexdig(%rip), %rdx       /* ELF32 objects: only RIP-relative or 32-bit relocations */
    movb (%rdx,%rax), %al
    popq %rdx
    call putc64
    decl %ecx
    jnz 1b
    popq %rsi
    popq %rcx
    popq %rax
    ret
print64_kv:
    call print64_str
    pushq %rax
    movb $'=', %al
    call putc64
    call print64_hex
    movb $'\n', %al
    call putc64
    popq %rax
    ret

    .align 16
lstubs:
    .set vec, 0
    .rept 32
    .align 16
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp lstub_common
    .set vec, vec + 1
    .endr
lstub_common:
    pushq %rdi
    pushq %rsi
    leaq s_vec(%rip), %rdi
    movq 16(%rsp), %rsi
    call print64_kv
    leaq s_err(%rip), %rdi
    movq 24(%rsp), %rsi
    call print64_kv
    cmpq $14, 16(%rsp)
    jne 1f
    leaq s_cr2(%rip), %rdi
    movq %cr2, %rsi
    call print64_kv
1:  leaq s_rip(%rip), %rdi
    movq 32(%rsp), %rsi
    call print64_kv
    movq recover_rip(%rip), %rsi
    testq %rsi, %rsi
    jz 2f
    movq %rsi, 32(%rsp)
    movq $0, recover_rip(%rip)
    popq %rsi
    popq %rdi
    addq $16, %rsp
    iretq
2:  leaq s_fail(%rip), %rdi
    call print64_str
    movw $0x3fd, %dx
3:  inb %dx, %al                 /* wait for the transmitter to be empty */
    testb $0x40, %al
    jz 3b
    movb $0x7f, %al
    outb %al, $0xf4
    hlt

    .section .rodata
hexdig: .ascii "0123456789abcdef"
s_vec: .asciz "  exception vec"
s_err: .asciz "  err"
s_cr2: .asciz "  cr2"
s_rip: .asciz "  rip"
s_fail: .asciz "FAIL: unexpected exception in long mode\n"
    .align 8
lidtr64: .word 32 * 16 - 1
    .long lidt64, 0

    .data
    .align 8
    .globl recover_rip
recover_rip: .quad 0
long_fn: .long 0
long_saved_esp: .long 0
long_saved_idtr: .word 0
    .long 0
    .bss
    .align 4096
    .globl lpml4, lpdpt, lpd
lpml4: .space 4096
lpdpt: .space 4096
lpd: .space 4096
lidt64: .space 32 * 16
