import { describe, expect, it } from 'vitest';
import type { List, Project } from '../api/types';
import { emptyProjectList, filterProjects, projectListReducer, sortedProjects, type ProjectListState } from './store';

function project(name: string, rv = 1, displayName?: string): Project {
  return { metadata: { name, resourceVersion: String(rv) }, spec: displayName ? { displayName } : {}, status: { phase: 'Active' } };
}

function page(items: Project[], rv: number, cont?: string): List<Project> {
  return { kind: 'ProjectList', metadata: { resourceVersion: String(rv), continue: cont }, items };
}

function names(state: ProjectListState): string[] {
  return sortedProjects(state).map((p) => p.metadata.name);
}

describe('filterProjects', () => {
  const projects = [project('shop', 1, 'Online shop'), project('shop-staging'), project('billing', 1, 'Invoices'), project('web')];

  it.each([
    ['an empty query keeps all', '', ['shop', 'shop-staging', 'billing', 'web']],
    ['matches a name', 'shop', ['shop', 'shop-staging']],
    ['matches a display name, ignoring case', 'INVOICE', ['billing']],
    ['needs every word', 'shop online', ['shop']],
    ['trims spaces', '  web ', ['web']],
    ['can match nothing', 'nope', []],
  ])('%s', (_, query, want) => {
    expect(filterProjects(projects, query).map((p) => p.metadata.name)).toEqual(want);
  });
});

describe('projectListReducer', () => {
  it('merges pages and remembers where the next one starts', () => {
    let state = projectListReducer(emptyProjectList, { type: 'page', list: page([project('b'), project('a')], 10, 'next'), first: true });
    expect(state.resourceVersion).toBe('10');
    expect(state.complete).toBe(false);
    state = projectListReducer(state, { type: 'page', list: page([project('c')], 12), first: false });
    expect(names(state)).toEqual(['a', 'b', 'c']);
    expect(state.resourceVersion).toBe('10');
    expect(state.complete).toBe(true);
  });

  it('applies watch events, ignoring stale ones', () => {
    let state = projectListReducer(emptyProjectList, { type: 'page', list: page([project('a', 5, 'A')], 5), first: true });
    state = projectListReducer(state, { type: 'event', event: 'ADDED', object: project('b', 6) });
    state = projectListReducer(state, { type: 'event', event: 'MODIFIED', object: project('a', 7, 'A2') });
    state = projectListReducer(state, { type: 'event', event: 'MODIFIED', object: project('a', 6, 'stale') });
    expect(names(state)).toEqual(['a', 'b']);
    expect(state.byName.get('a')?.spec.displayName).toBe('A2');
    state = projectListReducer(state, { type: 'event', event: 'DELETED', object: project('b', 8) });
    expect(names(state)).toEqual(['a']);
  });

  it('does not bring back a project deleted while a page was on its way', () => {
    let state = projectListReducer(emptyProjectList, { type: 'page', list: page([project('a', 3)], 5, 'next'), first: true });
    state = projectListReducer(state, { type: 'event', event: 'DELETED', object: project('z', 9) });
    state = projectListReducer(state, { type: 'page', list: page([project('z', 4)], 6), first: false });
    expect(names(state)).toEqual(['a']);
    // Created again after the deletion: it is back.
    state = projectListReducer(state, { type: 'event', event: 'ADDED', object: project('z', 10) });
    expect(names(state)).toEqual(['a', 'z']);
  });

  it('shows a deletion at once', () => {
    let state = projectListReducer(emptyProjectList, { type: 'page', list: page([project('a')], 1), first: true });
    state = projectListReducer(state, { type: 'deleting', name: 'a' });
    expect(state.byName.get('a')?.status?.phase).toBe('Terminating');
  });
});
