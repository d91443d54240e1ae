import { validateGitURL, type Builder } from '../api/builds';
import type { EnvVar } from '../api/types';
import { validateName } from '../projects/validation';

export interface ImportForm {
  gitURL: string;
  name: string;
  builder: Builder;
  contextDir: string;
  port: string;
  env: string;
  route: boolean;
  routeHost: string;
}

export type ImportProblems = Partial<Record<keyof ImportForm, string>>;

const envName = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const hostPattern = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** parseEnv reads KEY=value lines; blank lines are skipped. */
export function parseEnv(text: string): { env: EnvVar[]; problem: string | null } {
  const env: EnvVar[] = [];
  const seen = new Set<string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq).trim();
    if (eq < 0) return { env, problem: `Line ${i + 1}: write NAME=value.` };
    if (!envName.test(name)) return { env, problem: `Line ${i + 1}: “${name}” is not a variable name (a letter or _, then letters, digits, _, . or -).` };
    if (seen.has(name)) return { env, problem: `Line ${i + 1}: ${name} is set twice.` };
    seen.add(name);
    env.push({ name, value: line.slice(eq + 1) });
  }
  return { env, problem: null };
}

export function validateImport(form: ImportForm): ImportProblems {
  const problems: ImportProblems = {};
  const git = validateGitURL(form.gitURL);
  if (git) problems.gitURL = git;
  const name = validateName(form.name);
  if (name) problems.name = name;
  else if (form.name.length > 40) problems.name = 'Use at most 40 characters: builds are named NAME-N.';
  if (!/^\d+$/.test(form.port.trim()) || Number(form.port) < 1 || Number(form.port) > 65535) problems.port = 'Enter the port the app listens on, 1 to 65535.';
  const env = parseEnv(form.env).problem;
  if (env) problems.env = env;
  if (form.route && form.routeHost.trim() && !hostPattern.test(form.routeHost.trim())) problems.routeHost = 'Enter a host name such as shop.apps.example.com, or leave it empty.';
  if (form.contextDir.includes('..')) problems.contextDir = 'The directory must stay inside the repository.';
  return problems;
}
