/** Text safe inside HTML or XML content and quoted attributes: numeric references serve both. */
export function escapeMarkup(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
