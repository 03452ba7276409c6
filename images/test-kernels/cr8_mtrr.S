/* cr8_mtrr: the 64-bit half (see cr8_mtrr.c): CR8 reads TPR[7:4] and writes TPR = CR8 << 4. */
#include "print64.inc"
    .text
    .code64
    .globl cr8_tests
cr8_tests:
    movq %cr8, %rax
    PR "cr8 with tpr=7c", %rax
    movq $3, %rax
    movq %rax, %cr8
    movq %cr8, %rax
    PR "cr8 after writing 3", %rax
    movq $0xb, %rax
    movq %rax, %cr8
    ret
