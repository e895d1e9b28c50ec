import { describe, expect, it } from 'vitest';
import { colorLevel, makeChalk } from '../../src/report/color.js';

describe('colorLevel', () => {
  const cases: { name: string; isTTY: boolean; env: NodeJS.ProcessEnv; expected: 0 | 1 | 2 | 3 }[] = [
    // FORCE_COLOR decides, whatever the destination and NO_COLOR
    { name: 'FORCE_COLOR=0 on a TTY', isTTY: true, env: { FORCE_COLOR: '0', COLORTERM: 'truecolor' }, expected: 0 },
    { name: 'FORCE_COLOR=false on a TTY', isTTY: true, env: { FORCE_COLOR: 'false' }, expected: 0 },
    { name: 'FORCE_COLOR=1 to a pipe', isTTY: false, env: { FORCE_COLOR: '1' }, expected: 1 },
    { name: 'FORCE_COLOR=2 to a pipe', isTTY: false, env: { FORCE_COLOR: '2' }, expected: 2 },
    { name: 'FORCE_COLOR=3 to a pipe', isTTY: false, env: { FORCE_COLOR: '3' }, expected: 3 },
    { name: 'FORCE_COLOR empty means on', isTTY: false, env: { FORCE_COLOR: '' }, expected: 1 },
    { name: 'FORCE_COLOR=true means level 1', isTTY: false, env: { FORCE_COLOR: 'true' }, expected: 1 },
    { name: 'FORCE_COLOR=4 is level 1', isTTY: false, env: { FORCE_COLOR: '4' }, expected: 1 },
    { name: 'FORCE_COLOR=1 beats NO_COLOR', isTTY: true, env: { FORCE_COLOR: '1', NO_COLOR: '1' }, expected: 1 },
    { name: 'FORCE_COLOR=3 beats TERM=dumb', isTTY: true, env: { FORCE_COLOR: '3', TERM: 'dumb' }, expected: 3 },
    { name: 'FORCE_COLOR=2 ignores COLORTERM', isTTY: true, env: { FORCE_COLOR: '2', COLORTERM: 'truecolor' }, expected: 2 },
    // NO_COLOR turns it off on a terminal, unless empty
    { name: 'NO_COLOR=1 on a TTY', isTTY: true, env: { NO_COLOR: '1', COLORTERM: 'truecolor' }, expected: 0 },
    { name: 'NO_COLOR=0 still means no colour', isTTY: true, env: { NO_COLOR: '0' }, expected: 0 },
    { name: 'NO_COLOR empty is ignored', isTTY: true, env: { NO_COLOR: '' }, expected: 1 },
    // the destination and the terminal
    { name: 'a pipe', isTTY: false, env: {}, expected: 0 },
    { name: 'a pipe with a truecolor terminal', isTTY: false, env: { COLORTERM: 'truecolor', TERM: 'xterm-256color' }, expected: 0 },
    { name: 'TERM=dumb on a TTY', isTTY: true, env: { TERM: 'dumb' }, expected: 0 },
    { name: 'TERM=dumb beats COLORTERM', isTTY: true, env: { TERM: 'dumb', COLORTERM: 'truecolor' }, expected: 0 },
    { name: 'a plain TTY', isTTY: true, env: {}, expected: 1 },
    { name: 'TERM=xterm', isTTY: true, env: { TERM: 'xterm' }, expected: 1 },
    { name: 'TERM=xterm-256color', isTTY: true, env: { TERM: 'xterm-256color' }, expected: 2 },
    { name: 'TERM=screen-256color', isTTY: true, env: { TERM: 'screen-256color' }, expected: 2 },
    { name: 'COLORTERM=truecolor', isTTY: true, env: { COLORTERM: 'truecolor', TERM: 'xterm-256color' }, expected: 3 },
    { name: 'COLORTERM=24bit', isTTY: true, env: { COLORTERM: '24bit' }, expected: 3 },
    { name: 'COLORTERM=yes is not truecolor', isTTY: true, env: { COLORTERM: 'yes', TERM: 'xterm' }, expected: 1 },
  ];
  it.each(cases)('$name -> $expected', ({ isTTY, env, expected }) => {
    expect(colorLevel(isTTY, env)).toBe(expected);
  });
});

describe('makeChalk', () => {
  it.each([0, 1, 2, 3] as const)('level %i', (level) => {
    expect(makeChalk(level).level).toBe(level);
  });

  it('level 0 adds no escape codes; level 1 does', () => {
    expect(makeChalk(0).red('x')).toBe('x');
    expect(makeChalk(1).red('x')).toBe('\u001b[31mx\u001b[39m');
  });
});
