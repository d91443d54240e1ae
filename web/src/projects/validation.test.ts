import { describe, expect, it } from 'vitest';
import { suggestName, validateProjectName } from './validation';

describe('validateProjectName', () => {
  it.each(['a', 'shop', 'shop-2', '9lives', 'a'.repeat(63)])('accepts %s', (name) => {
    expect(validateProjectName(name)).toBeNull();
  });

  it.each([
    ['empty', '', 'Enter a name.'],
    ['too long', 'a'.repeat(64), 'Use at most 63 characters (this one has 64).'],
    ['upper case', 'Shop', 'Use lower-case letters only.'],
    ['an underscore', 'my_shop', '“_” is not allowed'],
    ['a dot', 'my.shop', '“.” is not allowed'],
    ['a space', 'my shop', '“ ” is not allowed'],
    ['a leading dash', '-shop', 'Start with a letter or a digit.'],
    ['a trailing dash', 'shop-', 'End with a letter or a digit.'],
    ['a non-ASCII letter', 'café', '“é” is not allowed'],
  ])('refuses %s', (_, name, message) => {
    expect(validateProjectName(name)).toContain(message);
  });
});

describe('suggestName', () => {
  it.each([
    ['My Shop', 'my-shop'],
    ['  Café Olé!  ', 'cafe-ole'],
    ['--', ''],
    ['x'.repeat(70), 'x'.repeat(63)],
  ])('%s → %s', (display, want) => {
    expect(suggestName(display)).toBe(want);
    if (want) expect(validateProjectName(want)).toBeNull();
  });
});
