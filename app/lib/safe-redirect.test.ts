import { describe, expect, it } from 'vitest';
import { DASHBOARD_PATH, safeNextPath } from './safe-redirect.js';

describe('safeNextPath', () => {
  it('keeps relative paths on this site', () => {
    expect(safeNextPath('/creator/dashboard/usage/keys')).toBe('/creator/dashboard/usage/keys');
    expect(safeNextPath('/a?b=1#c')).toBe('/a?b=1#c');
    expect(safeNextPath('/%0a')).toBe('/%0a'); // encoded: still a path on this site
  });

  it.each([
    null,
    undefined,
    '',
    'creator/dashboard',
    'https://evil.example/',
    '//evil.example/',
    '///evil.example/',
    '/\\evil.example/',
    '\\\\evil.example',
    '/\tevil',
    'javascript:alert(1)',
    ' /creator',
    // Dot segments that collapse into "//host" once parsed.
    '/.//evil.example',
    '/..//evil.example',
    '/a/..//evil.example',
    '/%2e//evil.example',
    '/%2e%2e//evil.example',
    '/./%2e//evil.example/x?y#z',
  ])('refuses %j', (next) => {
    expect(safeNextPath(next)).toBe(DASHBOARD_PATH);
  });
});
