/**
 * A count with commas between groups of three digits ("21,409"), as
 * `toLocaleString('en-US')` writes it, without ICU: that call's first use
 * in a process loads ICU's number formatting, about 30 ms of a daily run
 * whose summary is its only use.
 */
export function thousands(n: number): string {
  const text = String(n)
  if (!Number.isSafeInteger(n)) return text
  const digits = n < 0 ? text.slice(1) : text
  let grouped = digits.slice(0, digits.length % 3 || 3)
  for (let i = grouped.length; i < digits.length; i += 3) grouped += ',' + digits.slice(i, i + 3)
  return n < 0 ? '-' + grouped : grouped
}
