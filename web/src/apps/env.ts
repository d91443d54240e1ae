import type { EnvVar } from '../api/types';

export interface EnvRow {
  id: number;
  name: string;
  value: string;
}

const envName = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** validateEnv says what is wrong with each row, by row id. */
export function validateEnv(rows: readonly EnvRow[]): Map<number, string> {
  const problems = new Map<number, string>();
  const seen = new Set<string>();
  for (const row of rows) {
    const name = row.name.trim();
    if (name === '' && row.value === '') continue;
    if (name === '') problems.set(row.id, 'Enter a name for this value.');
    else if (!envName.test(name)) problems.set(row.id, 'Start with a letter or _, then letters, digits, _, . or -.');
    else if (seen.has(name)) problems.set(row.id, `${name} is set twice.`);
    seen.add(name);
  }
  return problems;
}

/** toEnv drops empty rows and trims names. */
export function toEnv(rows: readonly EnvRow[]): EnvVar[] {
  return rows.filter((r) => r.name.trim() !== '' || r.value !== '').map((r) => ({ name: r.name.trim(), value: r.value }));
}
