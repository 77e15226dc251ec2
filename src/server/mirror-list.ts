// Mirror lists for people and download tools: `?mirrorlist` as JSON (or HTML for a browser)
// and `<path>.meta4` as a Metalink 4 document (RFC 5854) for aria2, zypper, dnf and friends.
import type { Decision } from '../decision/decide.js';
import { escapeMarkup } from './escape.js';
import { freshnessText, roundFreshness } from './status-page.js';

type MirrorList = Extract<Decision, { kind: 'mirrorlist' }>;

export function mirrorListJson(list: MirrorList): string {
  return JSON.stringify({
    path: list.path,
    sha256: list.sha256,
    size: list.size,
    client: { ip: list.client.ip.text, country: list.client.country, continent: list.client.continent, cloud: list.client.cloud },
    route: list.route.prefix,
    mirrors: list.entries.map((entry, i) => ({ rank: i + 1, ...entry, ...(entry.freshness && { freshness: roundFreshness(entry.freshness) }) })),
  });
}

export function mirrorListHtml(list: MirrorList): string {
  // The freshness column only where the background audit runs.
  const audited = list.entries.some((e) => e.freshness);
  const rows = list.entries
    .map(
      (e, i) =>
        `<tr class="${e.usable ? 'usable' : 'skipped'}"><td>${i + 1}</td><td>${escapeMarkup(e.mirror)}</td><td>${escapeMarkup(e.region)}</td>` +
        `<td>${e.usable ? `<a href="${escapeMarkup(e.url)}">${escapeMarkup(e.url)}</a>` : escapeMarkup(e.reason ?? 'skipped')}</td>` +
        `${audited ? `<td class="freshness">${freshnessText(e.freshness)}</td>` : ''}</tr>`,
    )
    .join('\n');
  const where = [list.client.country, list.client.continent, list.client.cloud].filter(Boolean).join(', ') || 'unknown location';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mirrors for ${escapeMarkup(list.path)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}tr.skipped{color:#888}</style>
</head><body>
<h1>Mirrors for <code>${escapeMarkup(list.path)}</code></h1>
<p>For a client at ${escapeMarkup(list.client.ip.text)} (${escapeMarkup(where)}), best first.</p>
<table><thead><tr><th>#</th><th>mirror</th><th>region</th><th>URL or why not</th>${audited ? '<th>freshness</th>' : ''}</tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}

export function metalink(list: MirrorList, published: Date): string {
  const urls = list.entries
    .filter((e) => e.usable)
    .map((e, i) => `    <url priority="${i + 1}">${escapeMarkup(e.url)}</url>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="urn:ietf:params:xml:ns:metalink">
  <published>${published.toISOString().replace(/\.\d{3}Z$/, 'Z')}</published>
  <file name="${escapeMarkup(list.file)}">
${list.size === undefined ? '' : `    <size>${list.size}</size>\n`}${list.sha256 ? `    <hash type="sha-256">${list.sha256}</hash>\n` : ''}${urls}
  </file>
</metalink>
`;
}

/** A browser asks for HTML first; tools and scripts get JSON. */
export function wantsHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const html = accept.indexOf('text/html');
  const json = accept.indexOf('application/json');
  return html !== -1 && (json === -1 || html < json);
}
