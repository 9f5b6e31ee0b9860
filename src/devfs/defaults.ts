/**
 * FreeBSD's default named devfs rulesets, exactly as /etc/defaults/devfs.rules defines them
 * (sbin/devfs/devfs.rules in the FreeBSD source tree; the `$name` references are expanded by
 * rc(8) before the lines reach devfs(8)). brig builds them in so that `include $name` means the
 * same thing on every host and on Linux; compose() expands them into their rules.
 */

export interface BuiltinRuleset {
  readonly name: string;
  readonly number: number;
  /** The lines of the ruleset, verbatim. */
  readonly lines: readonly string[];
}

const LOGIN_PTYS = ['p', 'q', 'r', 's', 'P', 'Q', 'R', 'S', 'l', 'm', 'n', 'o', 'L', 'M', 'N', 'O'];

export const BUILTIN_RULESETS: readonly BuiltinRuleset[] = [
  // Very basic and secure ruleset: Hide everything.
  { name: 'devfsrules_hide_all', number: 1, lines: ['add hide'] },
  // Basic devices typically necessary.
  {
    name: 'devfsrules_unhide_basic',
    number: 2,
    lines: [
      'add path null unhide',
      'add path zero unhide',
      'add path crypto unhide',
      'add path random unhide',
      'add path urandom unhide',
    ],
  },
  // Devices typically needed to support logged-in users.
  {
    name: 'devfsrules_unhide_login',
    number: 3,
    lines: [
      ...LOGIN_PTYS.map((c) => `add path 'pty${c}*' unhide`),
      ...LOGIN_PTYS.map((c) => `add path 'tty${c}*' unhide`),
      'add path ptmx unhide',
      'add path pts unhide',
      "add path 'pts/*' unhide",
      'add path fd unhide',
      "add path 'fd/*' unhide",
      'add path stdin unhide',
      'add path stdout unhide',
      'add path stderr unhide',
    ],
  },
  // Devices usually found in a jail.
  {
    name: 'devfsrules_jail',
    number: 4,
    lines: [
      'add include $devfsrules_hide_all',
      'add include $devfsrules_unhide_basic',
      'add include $devfsrules_unhide_login',
      'add path fuse unhide',
      'add path zfs unhide',
    ],
  },
  {
    name: 'devfsrules_jail_vnet',
    number: 5,
    lines: [
      'add include $devfsrules_hide_all',
      'add include $devfsrules_unhide_basic',
      'add include $devfsrules_unhide_login',
      'add include $devfsrules_jail',
      'add path pf unhide',
    ],
  },
];

export const BUILTIN_BY_NAME: ReadonlyMap<string, BuiltinRuleset> = new Map(
  BUILTIN_RULESETS.map((b) => [b.name, b]),
);
export const BUILTIN_BY_NUMBER: ReadonlyMap<number, BuiltinRuleset> = new Map(
  BUILTIN_RULESETS.map((b) => [b.number, b]),
);
