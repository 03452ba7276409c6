/* stack: asm part. run_stack(u32 *out) runs each case on a private stack
   (stk) so the memory it prints is fully determined. */
    .text
    .globl run_stack
run_stack:
    pushl %ebp
    pushl %ebx
    pushl %esi
    pushl %edi
    movl 20(%esp), %edi          /* out[] */
    movl %esp, saved_esp
    /* fill the private stack with a pattern */
    movl $stk, %eax
1:  movl $0xcccccccc, (%eax)
    addl $4, %eax
    cmpl $stk_top, %eax
    jb 1b
    movl $stk_top, %esp

    /* PUSH ESP pushes the value before the push; POP [ESP] computes the
       address after incrementing (SDM Vol.2 PUSH, POP) */
    pushl %esp
    popl %eax
    subl $stk_top, %eax
    movl %eax, 0(%edi)
    pushl $0x11111111
    pushl $0x22222222
    popl (%esp)
    popl %eax
    movl %eax, 4(%edi)
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 8(%edi)
    /* 16-bit pushes/pops */
    pushw $0x1234
    pushw $-2
    popl %eax
    movl %eax, 12(%edi)
    pushl $0xaabbccdd
    popw %ax
    popw %bx
    shll $16, %ebx
    movw %ax, %bx
    movl %ebx, 16(%edi)
    /* PUSHA/POPA: the ESP image is the value before PUSHA; POPA skips it */
    movl $0xa0, %eax
    movl $0xc0, %ecx
    movl $0xd0, %edx
    movl $0xb0, %ebx
    movl $0x50, %ebp
    movl $0x51, %esi
    pushl %edi
    movl $0xd1, %edi
    pushal
    movl $0xdeadbeef, 12(%esp)   /* ESP slot: ignored by POPA */
    movl $0xe0, 28(%esp)         /* new EAX */
    popal
    popl %edi
    movl %eax, 20(%edi)
    movl %ebp, 24(%edi)
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 28(%edi)
    /* 16-bit PUSHA/POPA */
    movl $0x12345678, %eax
    pushw %ax
    popw %cx
    pushaw
    movw (%esp), %ax             /* DI */
    movzwl 14(%esp), %edx        /* AX */
    movl %edx, 32(%edi)
    popaw
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 36(%edi)

    /* ENTER with nesting levels 0, 1 and 3: build a fake chain of frames
       so the copied frame pointers are known values */
    movl $stk_top - 0x100, %ebp
    movl $stk_top - 0x80, (%ebp)
    movl $0x0f0f0001, -4(%ebp)
    movl $0x0f0f0002, -8(%ebp)
    movl $0x0f0f0003, -12(%ebp)
    movl $stk_top - 0x200, %esp
    enter $0x10, $0
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 40(%edi)
    movl %ebp, %eax
    subl $stk_top, %eax
    movl %eax, 44(%edi)
    leave
    movl %ebp, %eax
    subl $stk_top, %eax
    movl %eax, 48(%edi)
    enter $8, $1
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 52(%edi)
    movl -4(%ebp), %eax          /* level 1 pushes the new frame pointer */
    subl $stk_top, %eax
    movl %eax, 56(%edi)
    leave
    enter $4, $3
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 60(%edi)
    movl -4(%ebp), %eax          /* copied from old EBP-4 */
    movl %eax, 64(%edi)
    movl -8(%ebp), %eax          /* copied from old EBP-8 */
    movl %eax, 68(%edi)
    movl -12(%ebp), %eax         /* new frame pointer */
    subl $stk_top, %eax
    movl %eax, 72(%edi)
    leave
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 76(%edi)
    /* 16-bit ENTER/LEAVE: only BP/SP change */
    movl $stk_top - 0x100, %ebp
    movl $stk_top - 0x200, %esp
    enterw $6, $0
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 80(%edi)
    leavew
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 84(%edi)

    /* near/far CALL and RET, RET imm16 */
    movl $stk_top - 0x300, %esp
    pushl $0x77
    pushl $0x66
    call near_ret8
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 88(%edi)
    movl %ebx, 92(%edi)
    lcall $0x08, $far_ret
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 96(%edi)
    movl %ebx, 100(%edi)
    pushl $0x55
    lcall *farptr
    movl %esp, %eax
    subl $stk_top, %eax
    movl %eax, 104(%edi)
    movl %ebx, 108(%edi)
    movl $near_plain, %eax
    call *%eax
    movl %ebx, 112(%edi)
    call *nearptr
    movl %ebx, 116(%edi)
    movl saved_esp, %esp
    popl %edi
    popl %esi
    popl %ebx
    popl %ebp
    ret

near_ret8:
    movl 4(%esp), %ebx
    addl 8(%esp), %ebx
    ret $8
far_ret:
    movl 4(%esp), %ebx           /* saved CS */
    lret
far_ret4:
    movl 8(%esp), %ebx           /* the argument above CS */
    lret $4
near_plain:
    movl $0x1111, %ebx
    ret
near_plain2:
    movl $0x2222, %ebx
    ret

    .data
    .align 4
farptr:  .long far_ret4
         .word 0x08
nearptr: .long near_plain2
saved_esp: .long 0
    .bss
    .align 16
stk: .space 4096
stk_top:
