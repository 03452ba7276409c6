// printf("%0.2f") of a ratio a*100/b the way glibc prints it: the exact value rounded, ties to
// even (ties only occur when the quotient is exact, so integer arithmetic decides them).
export function percent2(a: number, b: number): string {
  const scaled = a * 10000; // hundredths of a percent, times b
  let q = Math.floor(scaled / b);
  const r = scaled - q * b;
  if (2 * r > b || (2 * r === b && q % 2 === 1)) q++;
  const whole = Math.floor(q / 100);
  return `${whole}.${String(q % 100).padStart(2, '0')}`;
}
