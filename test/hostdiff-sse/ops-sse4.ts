// SSE3, SSSE3 and SSE4.1 variants of the SSE host-differential test (test/hostdiff-sse/ops.ts),
// plus PCMPGTQ (SSE4.2). Integer variants use the byte-biased random inputs; the floating-point
// ones (ADDSUB/HADD/HSUB, ROUND*, DPPS/DPPD) the floating-point generator under a random MXCSR.
// XMM0 holds the memory operand's bytes during every case (the case body loads it), so it is the
// implicit mask of PBLENDVB/BLENDVPS/BLENDVPD. EFLAGS results (PTEST) are stored through RAX.
import type { SseOp } from './ops.ts';

export function sse4Ops(ops: SseOp[]): void {
  let needs = 'pni';
  const add = (name: string, asm: string, mult = 1) => ops.push({ name, asm, mult, needs });
  const fp = (name: string, asm: string, gen: 's' | 'd', mult = 2) => ops.push({ name, asm, gen, mult, needs });

  // --- SSE3 ---
  for (const n of ['addsubps', 'haddps', 'hsubps']) {
    fp(`${n} xmm,xmm`, `${n} %xmm2, %xmm1`, 's', 4);
    fp(`${n} xmm,m128`, `${n} 32(OUT), %xmm1`, 's', 2);
    fp(`${n} xmm,xmm (same)`, `${n} %xmm1, %xmm1`, 's', 1);
  }
  for (const n of ['addsubpd', 'haddpd', 'hsubpd']) {
    fp(`${n} xmm,xmm`, `${n} %xmm2, %xmm1`, 'd', 4);
    fp(`${n} xmm,m128`, `${n} 32(OUT), %xmm1`, 'd', 2);
  }
  fp('haddps xmm9,xmm1', `movdqa %xmm2, %xmm9; haddps %xmm1, %xmm9; movdqa %xmm9, %xmm1`, 's', 1);
  add('movddup reg', `movddup %xmm2, %xmm1`);
  add('movddup m64', `movddup 36(OUT), %xmm1`);
  add('movsldup reg', `movsldup %xmm2, %xmm1`);
  add('movsldup m128', `movsldup 32(OUT), %xmm1`);
  add('movshdup reg', `movshdup %xmm2, %xmm1`);
  add('movshdup m128', `movshdup 32(OUT), %xmm1`);
  add('lddqu', `lddqu 33(OUT), %xmm1`);
  add('movshdup xmm9', `movshdup %xmm2, %xmm9; movdqa %xmm9, %xmm1`);

  // --- SSSE3: MMX and XMM forms ---
  needs = 'ssse3';
  for (const n of ['pshufb', 'phaddw', 'phaddd', 'phaddsw', 'pmaddubsw', 'phsubw', 'phsubd', 'phsubsw',
    'psignb', 'psignw', 'psignd', 'pmulhrsw', 'pabsb', 'pabsw', 'pabsd']) {
    add(`${n} mm,mm`, `${n} %mm2, %mm1`);
    add(`${n} mm,m64`, `${n} 32(OUT), %mm1`);
    add(`${n} xmm,xmm`, `${n} %xmm2, %xmm1`, 1.5);
    add(`${n} xmm,m128`, `${n} 32(OUT), %xmm1`);
    add(`${n} xmm,xmm (same)`, `${n} %xmm1, %xmm1`, 0.5);
  }
  for (const n of ['pshufb', 'phaddw', 'pmaddubsw', 'psignd']) {
    add(`${n} xmm9,xmm1`, `movdqa %xmm2, %xmm9; ${n} %xmm1, %xmm9; movdqa %xmm9, %xmm1`, 0.5);
    add(`${n} xmm1,xmm9`, `movdqa %xmm2, %xmm9; ${n} %xmm9, %xmm1`, 0.5);
  }
  for (const i of [0, 1, 3, 7, 8, 9, 13, 15, 16, 17, 24, 31, 32, 40, 255]) {
    add(`palignr $${i} mm`, `palignr $${i}, %mm2, %mm1`, 0.5);
    add(`palignr $${i} xmm`, `palignr $${i}, %xmm2, %xmm1`, 0.5);
  }
  add('palignr mm,m64', `palignr $5, 32(OUT), %mm1`);
  add('palignr xmm,m128', `palignr $11, 32(OUT), %xmm1`);
  add('fld1 x2; pshufb mm2->mm1', `fninit; fld1; fld1; pshufb %mm2, %mm1`);

  // --- SSE4.1 integer ---
  needs = 'sse4_1';
  for (const n of ['pminsb', 'pminsd', 'pminuw', 'pminud', 'pmaxsb', 'pmaxsd', 'pmaxuw', 'pmaxud', 'pmulld',
    'pmuldq', 'pcmpeqq', 'pcmpgtq', 'packusdw', 'phminposuw']) {
    if (n === 'pcmpgtq') needs = 'sse4_2';
    add(`${n} xmm,xmm`, `${n} %xmm2, %xmm1`, 1.5);
    add(`${n} xmm,m128`, `${n} 32(OUT), %xmm1`);
    needs = 'sse4_1';
  }
  add('pcmpeqq xmm1,xmm1', `pcmpeqq %xmm1, %xmm1`, 0.5);
  add('pmaxsd xmm9,xmm1', `movdqa %xmm2, %xmm9; pmaxsd %xmm1, %xmm9; movdqa %xmm9, %xmm1`, 0.5);
  const flags = 'pushf; pop %rax; and $0x8d5, %eax';
  add('ptest xmm,xmm', `ptest %xmm2, %xmm1; ${flags}`, 3);
  add('ptest xmm,m128', `ptest 32(OUT), %xmm1; ${flags}`, 2);
  add('ptest same', `ptest %xmm1, %xmm1; ${flags}`);
  add('ptest xmm,xmm (and)', `movdqa %xmm2, %xmm1; pandn 32(OUT), %xmm1; ptest %xmm2, %xmm1; ${flags}`);
  add('ptest xmm,xmm (sub)', `por %xmm2, %xmm1; ptest %xmm2, %xmm1; ${flags}`);
  for (const s of ['bw', 'bd', 'bq', 'wd', 'wq', 'dq']) {
    for (const z of ['sx', 'zx']) {
      add(`pmov${z}${s} reg`, `pmov${z}${s} %xmm2, %xmm1`);
      add(`pmov${z}${s} mem`, `pmov${z}${s} 33(OUT), %xmm1`);
    }
  }
  add('pmovsxbw xmm9', `pmovsxbw %xmm2, %xmm9; movdqa %xmm9, %xmm1`, 0.5);
  for (const n of ['pblendvb', 'blendvps', 'blendvpd']) {
    add(`${n} reg`, `${n} %xmm0, %xmm2, %xmm1`, 2);
    add(`${n} mem`, `${n} %xmm0, 32(OUT), %xmm1`);
  }
  for (const i of [0x00, 0xff, 0x5a, 0x81, 0x3c, 0x01, 0x80]) add(`pblendw $${i}`, `pblendw $${i}, %xmm2, %xmm1`, 0.5);
  for (let i = 0; i < 16; i++) add(`blendps $${i}`, `blendps $${i}, %xmm2, %xmm1`, 0.5);
  for (let i = 0; i < 4; i++) add(`blendpd $${i}`, `blendpd $${i}, %xmm2, %xmm1`, 0.5);
  add('pblendw mem', `pblendw $0x93, 32(OUT), %xmm1`);
  add('blendps mem', `blendps $0x6, 32(OUT), %xmm1`);
  add('blendpd mem', `blendpd $0x2, 32(OUT), %xmm1`);
  // Extracts and inserts: indices past the register are masked.
  for (const i of [0, 1, 5, 7, 8, 12, 15, 16, 255]) {
    add(`pextrb $${i} r32`, `pextrb $${i}, %xmm2, %eax`, 0.5);
    add(`pextrb $${i} m8`, `pextrb $${i}, %xmm2, 35(OUT)`, 0.5);
    add(`pinsrb $${i} r32`, `pinsrb $${i}, %eax, %xmm1`, 0.5);
    add(`pinsrb $${i} m8`, `pinsrb $${i}, 35(OUT), %xmm1`, 0.5);
  }
  for (const i of [0, 3, 5, 7, 9]) {
    add(`pextrw $${i} m16`, `pextrw $${i}, %xmm2, 35(OUT)`, 0.5);
    add(`pextrw $${i} r32 (0F 3A 15)`, `.byte 0x66, 0x0f, 0x3a, 0x15, 0xd0, ${i}`, 0.5);
  }
  for (const i of [0, 1, 2, 3, 6]) {
    add(`pextrd $${i} r32`, `pextrd $${i}, %xmm2, %eax`, 0.5);
    add(`pextrd $${i} m32`, `pextrd $${i}, %xmm2, 34(OUT)`, 0.5);
    add(`extractps $${i} r32`, `extractps $${i}, %xmm2, %eax`, 0.5);
    add(`extractps $${i} m32`, `extractps $${i}, %xmm2, 34(OUT)`, 0.5);
    add(`pinsrd $${i} r32`, `pinsrd $${i}, %eax, %xmm1`, 0.5);
    add(`pinsrd $${i} m32`, `pinsrd $${i}, 34(OUT), %xmm1`, 0.5);
  }
  for (const i of [0, 1, 3]) {
    add(`pextrq $${i} r64`, `pextrq $${i}, %xmm2, %rax`, 0.5);
    add(`pextrq $${i} m64`, `pextrq $${i}, %xmm2, 36(OUT)`, 0.5);
    add(`pinsrq $${i} r64`, `pinsrq $${i}, %rax, %xmm1`, 0.5);
    add(`pinsrq $${i} m64`, `pinsrq $${i}, 36(OUT), %xmm1`, 0.5);
  }
  add('extractps r64 (REX.W)', `.byte 0x66, 0x48, 0x0f, 0x3a, 0x17, 0xd0, 2`, 0.5);
  add('pextrb xmm9 -> r9', `movdqa %xmm2, %xmm9; pextrb $9, %xmm9, %r9d; mov %r9, %rax`, 0.5);
  add('pinsrq r9 -> xmm9', `mov %rax, %r9; movdqa %xmm2, %xmm9; pinsrq $1, %r9, %xmm9; movdqa %xmm9, %xmm1`, 0.5);
  add('pinsrb sil-class reg (REX)', `mov %rax, %r9; pinsrb $3, %r9d, %xmm1`, 0.5);
  for (const i of [0x00, 0x0f, 0x10, 0x25, 0x5c, 0x9a, 0xe3, 0xff, 0x30, 0xc1]) {
    add(`insertps $${i} reg`, `insertps $${i}, %xmm2, %xmm1`, 0.5);
    add(`insertps $${i} m32`, `insertps $${i}, 36(OUT), %xmm1`, 0.5);
  }
  add('insertps same', `insertps $0x4a, %xmm1, %xmm1`, 0.5);
  add('movntdqa', `movntdqa 32(OUT), %xmm1`);
  for (let i = 0; i < 8; i++) add(`mpsadbw $${i}`, `mpsadbw $${i}, %xmm2, %xmm1`, 0.5);
  add('mpsadbw mem', `mpsadbw $6, 32(OUT), %xmm1`);

  // --- SSE4.1 floating point ---
  for (const i of [0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 0xf5]) {
    fp(`roundps $${i}`, `roundps $${i}, %xmm2, %xmm1`, 's', 1);
    fp(`roundpd $${i}`, `roundpd $${i}, %xmm2, %xmm1`, 'd', 1);
    fp(`roundss $${i}`, `roundss $${i}, %xmm2, %xmm1`, 's', 1);
    fp(`roundsd $${i}`, `roundsd $${i}, %xmm2, %xmm1`, 'd', 1);
  }
  fp('roundps mem', `roundps $4, 32(OUT), %xmm1`, 's', 1);
  fp('roundpd mem', `roundpd $1, 32(OUT), %xmm1`, 'd', 1);
  fp('roundss m32', `roundss $2, 36(OUT), %xmm1`, 's', 1);
  fp('roundsd m64', `roundsd $11, 40(OUT), %xmm1`, 'd', 1);
  for (const i of [0xff, 0xf1, 0x31, 0x7f, 0x55, 0xa3, 0x1c, 0xc2, 0x0f, 0xf0]) {
    fp(`dpps $${i}`, `dpps $${i}, %xmm2, %xmm1`, 's', 1);
  }
  for (const i of [0x33, 0x31, 0x12, 0x23, 0x03, 0x30]) fp(`dppd $${i}`, `dppd $${i}, %xmm2, %xmm1`, 'd', 1);
  fp('dpps mem', `dpps $0xff, 32(OUT), %xmm1`, 's', 1);
  fp('dppd mem', `dppd $0x33, 32(OUT), %xmm1`, 'd', 1);
}
