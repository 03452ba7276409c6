// The x86 opcode map: the one table that the CPU's decoder (via the generated
// assembly/generated/opcode-table.ts), the monitor's disassembler and a later translator share.
//
// Each entry is "mnemonic operands [attributes]" in the notation of the Intel SDM Vol. 2,
// Appendix A.2: E = ModRM r/m, G = ModRM reg, I = immediate, J = relative offset, M = memory-only
// r/m, O = moffs, A = far pointer, S = segment register, C/D = control/debug register, R = ModRM
// r/m register only, Z = register in the low opcode bits, V/W = XMM ModRM reg/rm, P/Q = MMX
// ModRM reg/rm, U/N = XMM/MMX ModRM rm register only; size letters b (byte), w (word),
// d (dword), q (qword), v (16/32/64 by operand size), z (16 or 32), p (far pointer).
// Attributes (Appendix A.2.5 superscripts): i64 = invalid in 64-bit mode, o64 = valid only in
// 64-bit mode, d64 = default operand size 64 in 64-bit mode, f64 = operand size forced to 64,
// pfx = a prefix byte, esc = escape to another map. "group:NAME" entries take their mnemonic and
// operands from GROUPS[NAME][ModRM.reg]. An empty string is an undefined opcode (#UD).

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const R16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];

function oneByteMap(): string[] {
  const m: string[] = new Array(256).fill('');
  for (let i = 0; i < 8; i++) {
    const b = i * 8;
    m[b] = `${ALU[i]} Eb,Gb`;
    m[b + 1] = `${ALU[i]} Ev,Gv`;
    m[b + 2] = `${ALU[i]} Gb,Eb`;
    m[b + 3] = `${ALU[i]} Gv,Ev`;
    m[b + 4] = `${ALU[i]} AL,Ib`;
    m[b + 5] = `${ALU[i]} rAX,Iz`;
  }
  Object.assign(m, {
    0x06: 'push ES i64', 0x07: 'pop ES i64', 0x0e: 'push CS i64', 0x0f: 'esc',
    0x16: 'push SS i64', 0x17: 'pop SS i64', 0x1e: 'push DS i64', 0x1f: 'pop DS i64',
    0x26: 'es pfx', 0x27: 'daa i64', 0x2e: 'cs pfx', 0x2f: 'das i64',
    0x36: 'ss pfx', 0x37: 'aaa i64', 0x3e: 'ds pfx', 0x3f: 'aas i64',
    0x60: 'pusha i64', 0x61: 'popa i64', 0x62: 'bound Gv,Ma i64', 0x63: 'arpl Ew,Gw',
    0x64: 'fs pfx', 0x65: 'gs pfx', 0x66: 'data16 pfx', 0x67: 'addr16 pfx',
    0x68: 'push Iz d64', 0x69: 'imul Gv,Ev,Iz', 0x6a: 'push Ib d64', 0x6b: 'imul Gv,Ev,Ib',
    0x6c: 'insb', 0x6d: 'insv', 0x6e: 'outsb', 0x6f: 'outsv',
    0x80: 'group:1 Eb,Ib', 0x81: 'group:1 Ev,Iz', 0x82: 'group:1 Eb,Ib i64', 0x83: 'group:1 Ev,Ib',
    0x84: 'test Eb,Gb', 0x85: 'test Ev,Gv', 0x86: 'xchg Eb,Gb', 0x87: 'xchg Ev,Gv',
    0x88: 'mov Eb,Gb', 0x89: 'mov Ev,Gv', 0x8a: 'mov Gb,Eb', 0x8b: 'mov Gv,Ev',
    0x8c: 'mov Ev,Sw', 0x8d: 'lea Gv,M', 0x8e: 'mov Sw,Ew', 0x8f: 'group:1A Ev d64',
    0x90: 'nop', 0x98: 'cbw', 0x99: 'cwd', 0x9a: 'callf Ap i64', 0x9b: 'fwait',
    0x9c: 'pushf d64', 0x9d: 'popf d64', 0x9e: 'sahf', 0x9f: 'lahf',
    0xa0: 'mov AL,Ob', 0xa1: 'mov rAX,Ov', 0xa2: 'mov Ob,AL', 0xa3: 'mov Ov,rAX',
    0xa4: 'movsb', 0xa5: 'movsv', 0xa6: 'cmpsb', 0xa7: 'cmpsv',
    0xa8: 'test AL,Ib', 0xa9: 'test rAX,Iz', 0xaa: 'stosb', 0xab: 'stosv',
    0xac: 'lodsb', 0xad: 'lodsv', 0xae: 'scasb', 0xaf: 'scasv',
    0xc0: 'group:2 Eb,Ib', 0xc1: 'group:2 Ev,Ib', 0xc2: 'ret Iw f64', 0xc3: 'ret f64',
    0xc4: 'les Gz,Mp i64', 0xc5: 'lds Gz,Mp i64', 0xc6: 'group:11 Eb,Ib', 0xc7: 'group:11 Ev,Iz',
    0xc8: 'enter Iw,Ib d64', 0xc9: 'leave d64', 0xca: 'retf Iw', 0xcb: 'retf',
    0xcc: 'int3', 0xcd: 'int Ib', 0xce: 'into i64', 0xcf: 'iret',
    0xd0: 'group:2 Eb,1', 0xd1: 'group:2 Ev,1', 0xd2: 'group:2 Eb,CL', 0xd3: 'group:2 Ev,CL',
    0xd4: 'aam Ib i64', 0xd5: 'aad Ib i64', 0xd6: 'salc i64', 0xd7: 'xlat',
    0xe0: 'loopne Jb f64', 0xe1: 'loope Jb f64', 0xe2: 'loop Jb f64', 0xe3: 'jcxz Jb f64',
    0xe4: 'in AL,Ib', 0xe5: 'in eAX,Ib', 0xe6: 'out Ib,AL', 0xe7: 'out Ib,eAX',
    0xe8: 'call Jz f64', 0xe9: 'jmp Jz f64', 0xea: 'jmpf Ap i64', 0xeb: 'jmp Jb f64',
    0xec: 'in AL,DX', 0xed: 'in eAX,DX', 0xee: 'out DX,AL', 0xef: 'out DX,eAX',
    0xf0: 'lock pfx', 0xf1: 'int1', 0xf2: 'repne pfx', 0xf3: 'rep pfx', 0xf4: 'hlt', 0xf5: 'cmc',
    0xf6: 'group:3b Eb', 0xf7: 'group:3v Ev', 0xf8: 'clc', 0xf9: 'stc', 0xfa: 'cli', 0xfb: 'sti',
    0xfc: 'cld', 0xfd: 'std', 0xfe: 'group:4 Eb', 0xff: 'group:5 Ev',
  });
  for (let i = 0; i < 8; i++) {
    m[0x40 + i] = `inc Z${R16[i]} i64`;
    m[0x48 + i] = `dec Z${R16[i]} i64`;
    m[0x50 + i] = `push Z${R16[i]} d64`;
    m[0x58 + i] = `pop Z${R16[i]} d64`;
    if (i > 0) m[0x90 + i] = `xchg Z${R16[i]},rAX`;
    m[0xb0 + i] = `mov Zb${i},Ib`;
    m[0xb8 + i] = `mov Z${R16[i]},Iv`;
    m[0xd8 + i] = `x87 Ex`;
  }
  for (let i = 0; i < 16; i++) m[0x70 + i] = `j${CC[i]} Jb f64`;
  return m;
}

function twoByteMap(): string[] {
  const m: string[] = new Array(256).fill('');
  Object.assign(m, {
    0x00: 'group:6 Ew', 0x01: 'group:7 Ev', 0x02: 'lar Gv,Ew', 0x03: 'lsl Gv,Ew',
    0x05: 'syscall', 0x06: 'clts', 0x07: 'sysret', 0x08: 'invd', 0x09: 'wbinvd', 0x0b: 'ud2',
    0x0d: 'prefetchw Ev',
    0x18: 'prefetch Ev', 0x19: 'nop Ev', 0x1a: 'nop Ev', 0x1b: 'nop Ev', 0x1c: 'nop Ev',
    0x1d: 'nop Ev', 0x1e: 'nop Ev', 0x1f: 'nop Ev',
    0x20: 'mov Rd,Cd f64', 0x21: 'mov Rd,Dd f64', 0x22: 'mov Cd,Rd f64', 0x23: 'mov Dd,Rd f64',
    0x30: 'wrmsr', 0x31: 'rdtsc', 0x32: 'rdmsr', 0x33: 'rdpmc', 0x34: 'sysenter', 0x35: 'sysexit',
    0xa0: 'push FS d64', 0xa1: 'pop FS d64', 0xa2: 'cpuid', 0xa3: 'bt Ev,Gv',
    0xa4: 'shld Ev,Gv,Ib', 0xa5: 'shld Ev,Gv,CL', 0xa8: 'push GS d64', 0xa9: 'pop GS d64',
    0xab: 'bts Ev,Gv', 0xac: 'shrd Ev,Gv,Ib', 0xad: 'shrd Ev,Gv,CL', 0xae: 'group:15 Ev', 0xaf: 'imul Gv,Ev',
    0xb0: 'cmpxchg Eb,Gb', 0xb1: 'cmpxchg Ev,Gv', 0xb2: 'lss Gv,Mp', 0xb3: 'btr Ev,Gv',
    0xb4: 'lfs Gv,Mp', 0xb5: 'lgs Gv,Mp', 0xb6: 'movzx Gv,Eb', 0xb7: 'movzx Gv,Ew',
    0xb8: 'popcnt Gv,Ev', // F3 only (no prefix: JMPE, Itanium only: #UD)
    0xb9: 'ud1 Gv,Ev', 0xba: 'group:8 Ev,Ib', 0xbb: 'btc Ev,Gv',
    0xbc: 'bsf Gv,Ev', 0xbd: 'bsr Gv,Ev', // F3 tzcnt Gv,Ev, F3 lzcnt Gv,Ev
    0xbe: 'movsx Gv,Eb', 0xbf: 'movsx Gv,Ew', 0xc0: 'xadd Eb,Gb', 0xc1: 'xadd Ev,Gv',
    0xc7: 'group:9 Ev',
    // SIMD (SDM Vol. 2 Table A-3). The entry names the unprefixed form; comments give the
    // mandatory-prefix forms (66 / F3 / F2) that share its ModRM and immediate. V/W = XMM reg/rm,
    // P/Q = MMX reg/rm, U/N = XMM/MMX register-only rm.
    0x10: 'movups Vps,Wps', // 66 movupd, F3 movss Vss,Wss, F2 movsd Vsd,Wsd
    0x11: 'movups Wps,Vps', // 66 movupd, F3 movss, F2 movsd (stores)
    0x12: 'movlps Vq,Mq', // mod=3: movhlps Vq,Uq; 66 movlpd; F3 movsldup Vx,Wx; F2 movddup Vx,Wq
    0x13: 'movlps Mq,Vq', // 66 movlpd
    0x14: 'unpcklps Vx,Wx', // 66 unpcklpd
    0x15: 'unpckhps Vx,Wx', // 66 unpckhpd
    0x16: 'movhps Vdq,Mq', // mod=3: movlhps Vdq,Uq; 66 movhpd; F3 movshdup Vx,Wx
    0x17: 'movhps Mq,Vq', // 66 movhpd
    0x2a: 'cvtpi2ps Vps,Qpi', // 66 cvtpi2pd Vpd,Qpi, F3 cvtsi2ss Vss,Ey, F2 cvtsi2sd Vsd,Ey
    0x2c: 'cvttps2pi Ppi,Wps', // 66 cvttpd2pi Ppi,Wpd, F3 cvttss2si Gy,Wss, F2 cvttsd2si Gy,Wsd
    0x2d: 'cvtps2pi Ppi,Wps', // 66 cvtpd2pi Qpi,Wpd, F3 cvtss2si Gy,Wss, F2 cvtsd2si Gy,Wsd
    0x2e: 'ucomiss Vss,Wss', // 66 ucomisd Vsd,Wsd
    0x2f: 'comiss Vss,Wss', // 66 comisd Vsd,Wsd
    0x51: 'sqrtps Vps,Wps', // 66 sqrtpd, F3 sqrtss Vss,Wss, F2 sqrtsd Vsd,Wsd
    0x52: 'rsqrtps Vps,Wps', // F3 rsqrtss Vss,Wss
    0x53: 'rcpps Vps,Wps', // F3 rcpss Vss,Wss
    0x58: 'addps Vps,Wps', // 66 addpd, F3 addss, F2 addsd
    0x59: 'mulps Vps,Wps', // 66 mulpd, F3 mulss, F2 mulsd
    0x5a: 'cvtps2pd Vpd,Wps', // 66 cvtpd2ps Vps,Wpd, F3 cvtss2sd Vsd,Wss, F2 cvtsd2ss Vss,Wsd
    0x5b: 'cvtdq2ps Vps,Wdq', // 66 cvtps2dq Vdq,Wps, F3 cvttps2dq Vdq,Wps
    0x5c: 'subps Vps,Wps', // 66 subpd, F3 subss, F2 subsd
    0x5d: 'minps Vps,Wps', // 66 minpd, F3 minss, F2 minsd
    0x5e: 'divps Vps,Wps', // 66 divpd, F3 divss, F2 divsd
    0x5f: 'maxps Vps,Wps', // 66 maxpd, F3 maxss, F2 maxsd
    0x28: 'movaps Vps,Wps', // 66 movapd
    0x29: 'movaps Wps,Vps', // 66 movapd
    0x2b: 'movntps Mps,Vps', // 66 movntpd
    0x50: 'movmskps Gd,Ups', // 66 movmskpd
    0x54: 'andps Vps,Wps', 0x55: 'andnps Vps,Wps', 0x56: 'orps Vps,Wps', 0x57: 'xorps Vps,Wps', // 66: the PD forms
    0x6e: 'movd Pd,Ey', // 66 movd/movq Vy,Ey
    0x6f: 'movq Pq,Qq', // 66 movdqa Vx,Wx, F3 movdqu Vx,Wx
    0x70: 'pshufw Pq,Qq,Ib', // 66 pshufd, F3 pshufhw, F2 pshuflw Vx,Wx,Ib
    0x71: 'group:12 Nq,Ib', 0x72: 'group:13 Nq,Ib', 0x73: 'group:14 Nq,Ib', // 66: Ux,Ib
    0x77: 'emms',
    0x7e: 'movd Ey,Pd', // 66 movd/movq Ey,Vy, F3 movq Vq,Wq
    0x7f: 'movq Qq,Pq', // 66 movdqa Wx,Vx, F3 movdqu Wx,Vx
    0xc3: 'movnti My,Gy',
    0xc4: 'pinsrw Pq,Ew,Ib', // 66 Vdq,Ew,Ib
    0xc5: 'pextrw Gd,Nq,Ib', // 66 Gd,Udq,Ib
    0xc2: 'cmpps Vps,Wps,Ib', // 66 cmppd, F3 cmpss, F2 cmpsd (imm8 = predicate)
    0xc6: 'shufps Vps,Wps,Ib', // 66 shufpd
    0xd6: 'movq Wq,Vq', // 66 only; F3 movq2dq Vdq,Nq, F2 movdq2q Pq,Uq
    0xd7: 'pmovmskb Gd,Nq', // 66 Gd,Ux
    0xe6: 'cvttpd2dq Vx,Wpd', // the 66 form; F3 cvtdq2pd Vx,Wpd, F2 cvtpd2dq Vx,Wpd; unprefixed #UD
    0xe7: 'movntq Mq,Pq', // 66 movntdq Mx,Vx
    // SSE3: 66 (PD) and F2 (PS) forms only; LDDQU is F2 only.
    0x7c: 'haddpd Vpd,Wpd', // F2 haddps Vps,Wps
    0x7d: 'hsubpd Vpd,Wpd', // F2 hsubps Vps,Wps
    0xd0: 'addsubpd Vpd,Wpd', // F2 addsubps Vps,Wps
    0xf0: 'lddqu Vx,Mx', // F2 only
  });
  // MMX/SSE2 integer rows 0F 60-6D, 74-76, D1-FE (66: the Vx,Wx forms).
  const mmx: Record<number, string> = {
    0x60: 'punpcklbw', 0x61: 'punpcklwd', 0x62: 'punpckldq', 0x63: 'packsswb', 0x64: 'pcmpgtb',
    0x65: 'pcmpgtw', 0x66: 'pcmpgtd', 0x67: 'packuswb', 0x68: 'punpckhbw', 0x69: 'punpckhwd',
    0x6a: 'punpckhdq', 0x6b: 'packssdw', 0x6c: 'punpcklqdq', 0x6d: 'punpckhqdq',
    0x74: 'pcmpeqb', 0x75: 'pcmpeqw', 0x76: 'pcmpeqd',
    0xd1: 'psrlw', 0xd2: 'psrld', 0xd3: 'psrlq', 0xd4: 'paddq', 0xd5: 'pmullw', 0xd8: 'psubusb',
    0xd9: 'psubusw', 0xda: 'pminub', 0xdb: 'pand', 0xdc: 'paddusb', 0xdd: 'paddusw', 0xde: 'pmaxub',
    0xdf: 'pandn', 0xe0: 'pavgb', 0xe1: 'psraw', 0xe2: 'psrad', 0xe3: 'pavgw', 0xe4: 'pmulhuw',
    0xe5: 'pmulhw', 0xe8: 'psubsb', 0xe9: 'psubsw', 0xea: 'pminsw', 0xeb: 'por', 0xec: 'paddsb',
    0xed: 'paddsw', 0xee: 'pmaxsw', 0xef: 'pxor', 0xf1: 'psllw', 0xf2: 'pslld', 0xf3: 'psllq',
    0xf4: 'pmuludq', 0xf5: 'pmaddwd', 0xf6: 'psadbw', 0xf8: 'psubb', 0xf9: 'psubw', 0xfa: 'psubd',
    0xfb: 'psubq', 0xfc: 'paddb', 0xfd: 'paddw', 0xfe: 'paddd',
  };
  for (const [k, name] of Object.entries(mmx)) m[Number(k)] = `${name} Pq,Qq`;
  for (let i = 0; i < 16; i++) {
    m[0x40 + i] = `cmov${CC[i]} Gv,Ev`;
    m[0x80 + i] = `j${CC[i]} Jz f64`;
    m[0x90 + i] = `set${CC[i]} Eb`;
  }
  for (let i = 0; i < 8; i++) m[0xc8 + i] = `bswap Z${R16[i]}`;
  return m;
}

/** Groups selected by ModRM.reg (SDM Vol. 2 Table A-6). Operands default to the opcode's. */
export const GROUPS: Record<string, string[]> = {
  '1': ALU,
  '1A': ['pop', '', '', '', '', '', '', ''],
  '2': ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'],
  '3b': ['test Eb,Ib', 'test Eb,Ib', 'not', 'neg', 'mul', 'imul', 'div', 'idiv'],
  '3v': ['test Ev,Iz', 'test Ev,Iz', 'not', 'neg', 'mul', 'imul', 'div', 'idiv'],
  '4': ['inc', 'dec', '', '', '', '', '', ''],
  '5': ['inc', 'dec', 'call Ev f64', 'callf Mp', 'jmp Ev f64', 'jmpf Mp', 'push Ev d64', ''],
  '6': ['sldt', 'str', 'lldt', 'ltr', 'verr', 'verw', '', ''],
  '7': ['sgdt Ms', 'sidt Ms', 'lgdt Ms', 'lidt Ms', 'smsw Ew', '', 'lmsw Ew', 'invlpg Mb'],
  '8': ['', '', '', '', 'bt', 'bts', 'btr', 'btc'],
  '9': ['', 'cmpxchg8b Mq', '', '', '', '', 'rdrand Rv', 'rdseed Rv'],
  '11': ['mov', '', '', '', '', '', '', ''],
  // Shifts by imm8 of an MMX (or, with 66, XMM) register (SDM Vol. 2 Table A-6).
  '12': ['', '', 'psrlw', '', 'psraw', '', 'psllw', ''],
  '13': ['', '', 'psrld', '', 'psrad', '', 'pslld', ''],
  '14': ['', '', 'psrlq', 'psrldq', '', '', 'psllq', 'pslldq'], // /3 and /7: 66 only
  '15': ['fxsave M', 'fxrstor M', 'ldmxcsr Md', 'stmxcsr Md', 'xsave M', 'xrstor M', 'xsaveopt M', 'clflush Mb'],
};

/** 0F 38 xx (SDM Vol. 2 Table A-4); filled in as SSSE3/SSE4 and MOVBE arrive. */
function threeByte38Map(): string[] {
  const m: string[] = new Array(256).fill('');
  // SSSE3: unprefixed Pq,Qq (MMX) forms; 66: Vx,Wx.
  const ssse3 = ['pshufb', 'phaddw', 'phaddd', 'phaddsw', 'pmaddubsw', 'phsubw', 'phsubd', 'phsubsw',
    'psignb', 'psignw', 'psignd', 'pmulhrsw'];
  ssse3.forEach((n, i) => { m[i] = `${n} Pq,Qq`; });
  m[0x1c] = 'pabsb Pq,Qq'; m[0x1d] = 'pabsw Pq,Qq'; m[0x1e] = 'pabsd Pq,Qq';
  // SSE4.1 (66 only; PCMPGTQ is SSE4.2). 10, 14, 15 take XMM0 as an implicit third operand.
  const sse41: Record<number, string> = {
    0x10: 'pblendvb Vdq,Wdq', 0x14: 'blendvps Vdq,Wdq', 0x15: 'blendvpd Vdq,Wdq', 0x17: 'ptest Vdq,Wdq',
    0x20: 'pmovsxbw Vdq,Wq', 0x21: 'pmovsxbd Vdq,Wd', 0x22: 'pmovsxbq Vdq,Ww', 0x23: 'pmovsxwd Vdq,Wq',
    0x24: 'pmovsxwq Vdq,Wd', 0x25: 'pmovsxdq Vdq,Wq', 0x28: 'pmuldq Vdq,Wdq', 0x29: 'pcmpeqq Vdq,Wdq',
    0x2a: 'movntdqa Vdq,Mdq', 0x2b: 'packusdw Vdq,Wdq',
    0x30: 'pmovzxbw Vdq,Wq', 0x31: 'pmovzxbd Vdq,Wd', 0x32: 'pmovzxbq Vdq,Ww', 0x33: 'pmovzxwd Vdq,Wq',
    0x34: 'pmovzxwq Vdq,Wd', 0x35: 'pmovzxdq Vdq,Wq', 0x37: 'pcmpgtq Vdq,Wdq',
    0x38: 'pminsb Vdq,Wdq', 0x39: 'pminsd Vdq,Wdq', 0x3a: 'pminuw Vdq,Wdq', 0x3b: 'pminud Vdq,Wdq',
    0x3c: 'pmaxsb Vdq,Wdq', 0x3d: 'pmaxsd Vdq,Wdq', 0x3e: 'pmaxuw Vdq,Wdq', 0x3f: 'pmaxud Vdq,Wdq',
    0x40: 'pmulld Vdq,Wdq', 0x41: 'phminposuw Vdq,Wdq',
  };
  Object.assign(m, sse41);
  // MOVBE (no prefix or 66; memory operand only); F2: CRC32 Gy,Eb and Gy,Ev (SSE4.2).
  m[0xf0] = 'movbe Gv,Mv'; m[0xf1] = 'movbe Mv,Gv';
  return m;
}
/** 0F 3A xx (SDM Vol. 2 Table A-5): every entry takes an imm8. */
function threeByte3AMap(): string[] {
  const m: string[] = new Array(256).fill('');
  Object.assign(m, {
    // SSE4.1 (66 only), except PALIGNR (SSSE3: unprefixed Pq,Qq,Ib; 66 Vx,Wx,Ib).
    0x08: 'roundps Vdq,Wdq,Ib', 0x09: 'roundpd Vdq,Wdq,Ib', 0x0a: 'roundss Vss,Wss,Ib', 0x0b: 'roundsd Vsd,Wsd,Ib',
    0x0c: 'blendps Vdq,Wdq,Ib', 0x0d: 'blendpd Vdq,Wdq,Ib', 0x0e: 'pblendw Vdq,Wdq,Ib', 0x0f: 'palignr Pq,Qq,Ib',
    0x14: 'pextrb Eb,Vdq,Ib', 0x15: 'pextrw Ew,Vdq,Ib', 0x16: 'pextrd Ey,Vdq,Ib', 0x17: 'extractps Ed,Vdq,Ib',
    0x20: 'pinsrb Vdq,Eb,Ib', 0x21: 'insertps Vdq,Wd,Ib', 0x22: 'pinsrd Vdq,Ey,Ib',
    0x40: 'dpps Vdq,Wdq,Ib', 0x41: 'dppd Vdq,Wdq,Ib', 0x42: 'mpsadbw Vdq,Wdq,Ib',
    // SSE4.2 string compares (66 only; any alignment): lengths in EAX/EDX or null-terminated.
    0x60: 'pcmpestrm Vdq,Wdq,Ib', 0x61: 'pcmpestri Vdq,Wdq,Ib', 0x62: 'pcmpistrm Vdq,Wdq,Ib', 0x63: 'pcmpistri Vdq,Wdq,Ib',
  });
  return m;
}

export const ONE_BYTE: readonly string[] = oneByteMap();
export const TWO_BYTE: readonly string[] = twoByteMap();
export const THREE_BYTE_38: readonly string[] = threeByte38Map();
export const THREE_BYTE_3A: readonly string[] = threeByte3AMap();

/** A parsed table entry. */
export interface Opcode {
  mnemonic: string;
  operands: string[];
  attrs: Set<string>;
}

export function parseEntry(text: string): Opcode | null {
  if (text === '') return null;
  const parts = text.split(' ');
  const mnemonic = parts[0];
  let operands: string[] = [];
  const attrs = new Set<string>();
  for (const p of parts.slice(1)) {
    if (/^(i64|o64|d64|f64|pfx|esc)$/.test(p)) attrs.add(p);
    else operands = p.split(',');
  }
  return { mnemonic, operands, attrs };
}
