/* Multiboot v1 entry and interrupt stubs of the test kernels. */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003   /* page-aligned modules, memory info */

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

    .text
    .globl _start
_start:
    cli
    mov $stack_top, %esp
    mov %eax, mb_magic
    mov %ebx, mb_info
    cld
    call lib_init
    call kmain
    call done

/* One 16-byte stub per vector; vectors with a CPU error code (SDM Vol.3
   Table 6-1) do not push a dummy one. */
    .align 16
    .globl lib_stubs
lib_stubs:
    .set vec, 0
    .rept 256
    .align 16
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21)
    .else
    push $0
    .endif
    push $vec
    jmp stub_common
    .set vec, vec + 1
    .endr

stub_common:
    pusha
    push %ds
    push %es
    push %fs
    push %gs
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    cld
    push %esp
    call exc_dispatch
    add $4, %esp
    pop %gs
    pop %fs
    pop %es
    pop %ds
    popa
    add $8, %esp
    iret

    .section .rodata
    .align 4
    .globl lib_stub_table
lib_stub_table:
    .set vec, 0
    .rept 256
    .long lib_stubs + vec * 16
    .set vec, vec + 1
    .endr

    .bss
    .align 16
    .globl mb_magic, mb_info
mb_magic: .long 0
mb_info:  .long 0
    .align 16
stack: .space 32768
    .globl stack_top
stack_top:

/* u32 run_user(u32 eip, u32 esp, u32 eflags): IRET to ring 3 (SEL_UCODE /
   SEL_UDATA) at eip; the user code comes back with INT 0x7f (a DPL3 gate
   installed here), and run_user returns the user's EAX. */
    .text
    .globl run_user, user_return
run_user:
    pushl %ebp
    pushl %ebx
    pushl %esi
    pushl %edi
    movl %esp, user_saved_esp
    /* IDT gate 0x7f: interrupt gate, DPL3, to user_return */
    movl $user_return, %eax
    movl %eax, %edx
    andl $0xffff, %eax
    orl $0x00080000, %eax
    andl $0xffff0000, %edx
    orl $0xee00, %edx
    movl %eax, idt + 0x7f * 8
    movl %edx, idt + 0x7f * 8 + 4
    movl 20(%esp), %eax          /* eip */
    movl 24(%esp), %ecx          /* esp */
    movl 28(%esp), %edx          /* eflags */
    pushl $0x23
    pushl %ecx
    pushl %edx
    pushl $0x1b
    pushl %eax
    movl $0x23, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %fs
    movl %eax, %gs
    iret
user_return:
    movl $0x10, %ecx
    movl %ecx, %ds
    movl %ecx, %es
    movl %ecx, %fs
    movl %ecx, %gs
    movl user_saved_esp, %esp
    popl %edi
    popl %esi
    popl %ebx
    popl %ebp
    ret
    .data
user_saved_esp: .long 0
