/** The longest project name: a DNS-1123 label. */
export const maxNameLength = 63;

/**
 * validateProjectName checks a DNS-1123 label as the server does and says
 * what is wrong in plain words, or returns null when the name is valid.
 */
export function validateProjectName(name: string): string | null {
  if (name === '') return 'Enter a name.';
  if (name.length > maxNameLength) return `Use at most ${maxNameLength} characters (this one has ${name.length}).`;
  if (/[A-Z]/.test(name)) return 'Use lower-case letters only.';
  const bad = name.match(/[^a-z0-9-]/);
  if (bad) return `“${bad[0]}” is not allowed: use lower-case letters, digits and '-'.`;
  if (!/^[a-z0-9]/.test(name)) return 'Start with a letter or a digit.';
  if (!/[a-z0-9]$/.test(name)) return 'End with a letter or a digit.';
  return null;
}

/** suggestName turns a display name into a valid project name, if it can. */
export function suggestName(displayName: string): string {
  return displayName
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, maxNameLength)
    .replace(/-+$/g, '');
}

/** validateName checks any object name (a DNS-1123 label), as the server does. */
export const validateName = validateProjectName;
