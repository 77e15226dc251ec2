// The report for machines: the same structure the text renderer prints, with exact numbers
// (bytes in bytes, shares as fractions 0..1, costs in USD, times as ISO strings).
import type { Report } from './build.js';

export function renderJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
