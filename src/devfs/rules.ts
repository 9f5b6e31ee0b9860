/**
 * devfs rules: the grammar of devfs(8) `rule add` and devfs.rules(5), parsed into values.
 *
 * A rule is written as devfs.rules(5) writes it (the text after `add` may stand alone):
 *
 *   [add] [rulenum] [type disk|mem|tape|tty] [path PATTERN] [hide|unhide] [user U] [group G]
 *         [mode OCTAL] [include N|$name]
 *
 * Conditions (`type`, `path`) come first, actions after, and the two may not be intermixed
 * (devfs(8)). Words are split and quoted as sh(1) does it for devfs.rules(5) lines: single quotes,
 * double quotes, backslash; `$name` (unquoted or in double quotes) is a ruleset name and is only
 * allowed after `include`. brig is stricter than devfs(8) where devfs(8) would silently do
 * something surprising, and says so in the error (ERR_DEVFS_RULE_INVALID, naming the rule):
 *   - `major` (removed from devfs(8)), symbolic modes (`u+rw`), unknown words: refused;
 *   - a condition or action given twice, `hide` together with `unhide`: refused;
 *   - a rule without an action: refused (it would do nothing);
 *   - `path` patterns: at most 199 bytes (DEVFS_MAXPTRNLEN is 200 with the NUL; devfs(8) would
 *     truncate), relative to /dev (no leading `/`), no empty, `.` or `..` segment, no whitespace
 *     or control character, no POSIX class `[:alpha:]` (the kernel's fnmatch(9) has none), no `/`
 *     inside brackets;
 *   - `include` names only FreeBSD's default rulesets ($devfsrules_hide_all ... by name or by
 *     their numbers 1-5, see ./defaults.ts); any other number is parsed but refused by compose().
 *
 * formatRule() prints the canonical spelling: no `add`, no rule number, conditions then actions
 * in the order the kernel runs them (type, path; hide/unhide, user, group, mode, include), modes
 * as four octal digits, words single-quoted only when they hold a character outside
 * [A-Za-z0-9_.,:+@%=/-], default rulesets by `$name`. Two spellings of one rule format the same.
 */
import { BrigError } from '../errors/errors.ts';
import { BUILTIN_BY_NAME, BUILTIN_BY_NUMBER } from './defaults.ts';

export type DeviceType = 'disk' | 'mem' | 'tape' | 'tty';
export const DEVICE_TYPES: readonly DeviceType[] = ['disk', 'mem', 'tape', 'tty'];

/** An owner given as a name (looked up on the host when the rule runs) or a number. */
export type Owner = string | number;

export interface DevfsRule {
  /** The explicit rule number, when the text gave one (devfs(8) `add 100 ...`). */
  readonly number?: number;
  readonly type?: DeviceType;
  /** A glob(3)-style pattern matched with fnmatch(3) FNM_PATHNAME against the path below /dev. */
  readonly path?: string;
  readonly visibility?: 'hide' | 'unhide';
  readonly user?: Owner;
  readonly group?: Owner;
  /** Permission bits, 0..0o7777. */
  readonly mode?: number;
  /** The number of the included ruleset. */
  readonly include?: number;
}

/** DEVFS_MAXPTRNLEN in sys/fs/devfs/devfs.h is 200 bytes including the terminating NUL. */
export const MAX_PATTERN_BYTES = 199;
const MAX_ID = 2147483647;

interface Word {
  text: string;
  /** The word was `$name` (unquoted or double-quoted): a variable reference. */
  variable: boolean;
}

function invalid(rule: string, why: string, hint?: string): BrigError {
  return new BrigError('ERR_DEVFS_RULE_INVALID', `devfs rule "${rule}": ${why}`, {
    details: { rule },
    ...(hint ? { hint } : {}),
  });
}

const WHOLE_NAME_ONLY = 'a `$` may only stand for a whole ruleset name, as in include $devfsrules_jail';

/** Split a rule into words as sh(1) would, refusing what sh would expand or interpret. */
function words(rule: string): Word[] {
  const out: Word[] = [];
  let i = 0;
  const n = rule.length;
  while (i < n) {
    while (i < n && (rule[i] === ' ' || rule[i] === '\t')) i++;
    if (i >= n) break;
    let text = '';
    let variable = false;
    let variableName = '';
    let quotedOrEscaped = false;
    /**
     * `$name` at `i`: allowed only as a whole ruleset name, so it must start the word and `fits`
     * (the quoting context's rule) must accept the character after it.
     */
    const variableAt = (fits: (after: string | undefined) => boolean) => {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(rule.slice(i));
      if (!m || text !== '' || !fits(rule[i + m[0].length])) throw invalid(rule, WHOLE_NAME_ONLY);
      text = m[1]!;
      variable = true;
      variableName = text;
      i += m[0].length;
    };
    if (rule[i] === '#') throw invalid(rule, 'comments are not allowed in a rule');
    if (rule[i] === '~') throw invalid(rule, 'a leading `~` must be quoted');
    while (i < n && rule[i] !== ' ' && rule[i] !== '\t') {
      const c = rule[i]!;
      if (c === "'") {
        const end = rule.indexOf("'", i + 1);
        if (end < 0) throw invalid(rule, 'unterminated single quote');
        text += rule.slice(i + 1, end);
        quotedOrEscaped = true;
        i = end + 1;
      } else if (c === '"') {
        i++;
        let closed = false;
        while (i < n) {
          const d = rule[i]!;
          if (d === '"') {
            closed = true;
            i++;
            break;
          }
          if (d === '\\' && i + 1 < n && '\\"$`'.includes(rule[i + 1]!)) {
            text += rule[i + 1];
            i += 2;
            continue;
          }
          if (d === '$') {
            variableAt((after) => after === '"');
            continue;
          }
          if (d === '`') throw invalid(rule, 'command substitution is not allowed');
          text += d;
          i++;
        }
        if (!closed) throw invalid(rule, 'unterminated double quote');
        quotedOrEscaped = true;
      } else if (c === '\\') {
        if (i + 1 >= n) throw invalid(rule, 'a backslash ends the rule');
        text += rule[i + 1];
        quotedOrEscaped = true;
        i += 2;
      } else if (c === '$') {
        variableAt((after) => !quotedOrEscaped && (after === undefined || after === ' ' || after === '\t'));
      } else if (';&|<>()`'.includes(c)) {
        throw invalid(rule, `the shell character \`${c}\` must be quoted`);
      } else if (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) {
        throw invalid(rule, 'control characters are not allowed');
      } else {
        text += c;
        i++;
      }
    }
    if (variable && text !== variableName) throw invalid(rule, WHOLE_NAME_ONLY);
    out.push({ text, variable });
  }
  return out;
}

function checkPattern(rule: string, p: string): void {
  if (p === '') throw invalid(rule, 'the path pattern is empty');
  if (Buffer.byteLength(p) > MAX_PATTERN_BYTES)
    throw invalid(
      rule,
      `the path pattern is longer than ${MAX_PATTERN_BYTES} bytes (devfs would truncate it)`,
    );
  if (/[\s\x00-\x1f\x7f]/.test(p))
    throw invalid(rule, 'the path pattern holds whitespace or a control character');
  if (p.startsWith('/'))
    throw invalid(
      rule,
      'the path pattern is absolute',
      `Patterns match paths below /dev: write '${p.replace(/^\/+(dev\/)?/, '')}'.`,
    );
  for (const seg of p.split('/'))
    if (seg === '' || seg === '.' || seg === '..')
      throw invalid(rule, 'the path pattern has an empty, "." or ".." segment');
  if (p.includes('[:')) throw invalid(rule, "the kernel's fnmatch has no character classes like [:digit:]");
  if (/(^|[^\\])(\\\\)*\\$/.test(p)) throw invalid(rule, 'the path pattern ends with a lone backslash');
  // fnmatch implementations disagree on whether `\/` matches a `/` under FNM_PATHNAME.
  if (/(^|[^\\])(\\\\)*\\\//.test(p))
    throw invalid(rule, 'the path pattern escapes a "/"', 'Write / without a backslash.');
  // A `/` inside a bracket expression never matches under FNM_PATHNAME; refuse it as a mistake.
  for (let k = 0; k < p.length; k++) {
    if (p[k] === '\\') {
      k++;
      continue;
    }
    if (p[k] !== '[') continue;
    let j = k + 1;
    if (p[j] === '!' || p[j] === '^') j++;
    if (p[j] === ']') j++; // a leading ] is a member, not the end
    const close = p.indexOf(']', j);
    // fnmatch takes an unclosed [ literally; implementations differ around it, so ask for \\[.
    if (close < 0) throw invalid(rule, 'the path pattern has an unclosed "["', 'Write \\[ for a literal [.');
    if (p.slice(k + 1, close).includes('/'))
      throw invalid(rule, 'a "/" inside brackets never matches a path');
    k = close;
  }
}

function owner(rule: string, what: string, w: Word | undefined): Owner {
  if (!w || w.variable) throw invalid(rule, `expecting a ${what} name or number after ${what}`);
  if (/^\d+$/.test(w.text)) {
    const v = Number(w.text);
    if (v > MAX_ID) throw invalid(rule, `${what} id ${w.text} is out of range`);
    return v;
  }
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(w.text))
    throw invalid(rule, `"${w.text}" is not a ${what} name`);
  return w.text;
}

function ruleNumber(rule: string, text: string, what: string): number {
  const v = Number(text);
  if (!/^\d+$/.test(text) || v > 65535)
    throw invalid(rule, `${what} "${text}" is not a number from 0 to 65535`);
  return v;
}

/** Parse one rule. Throws ERR_DEVFS_RULE_INVALID naming the rule. */
export function parseRule(text: string): DevfsRule {
  if (typeof text !== 'string') throw invalid(String(text), 'a rule is a string');
  const ws = words(text);
  let k = 0;
  const r: {
    number?: number;
    type?: DeviceType;
    path?: string;
    visibility?: 'hide' | 'unhide';
    user?: Owner;
    group?: Owner;
    mode?: number;
    include?: number;
  } = {};
  if (ws[k] && !ws[k]!.variable && ws[k]!.text === 'add') k++;
  if (ws[k] && !ws[k]!.variable && /^\d+$/.test(ws[k]!.text)) {
    const v = ruleNumber(text, ws[k]!.text, 'rule number');
    if (v !== 0) r.number = v; // 0 asks the kernel to number the rule, as no number does
    k++;
  }
  let actions = false;
  for (; k < ws.length; k++) {
    const w = ws[k]!;
    const arg = ws[k + 1];
    const keyword = w.variable ? `$${w.text}` : w.text;
    switch (keyword) {
      case 'type':
      case 'path':
        if (actions)
          throw invalid(
            text,
            `the condition "${keyword}" comes after an action`,
            'Write conditions (type, path) before actions.',
          );
        if (!arg) throw invalid(text, `expecting an argument for ${keyword}`);
        if (arg.variable) throw invalid(text, `$${arg.text} may only follow include`);
        if (keyword === 'type') {
          if (r.type !== undefined) throw invalid(text, 'type is given twice');
          if (!(DEVICE_TYPES as readonly string[]).includes(arg.text))
            throw invalid(text, `unknown device type "${arg.text}" (disk, mem, tape or tty)`);
          r.type = arg.text as DeviceType;
        } else {
          if (r.path !== undefined) throw invalid(text, 'path is given twice');
          checkPattern(text, arg.text);
          r.path = arg.text;
        }
        k++;
        break;
      case 'hide':
      case 'unhide':
        actions = true;
        if (r.visibility !== undefined)
          throw invalid(
            text,
            r.visibility === keyword ? `${keyword} is given twice` : 'hide and unhide together',
          );
        r.visibility = keyword;
        break;
      case 'user':
      case 'group':
        actions = true;
        if (r[keyword] !== undefined) throw invalid(text, `${keyword} is given twice`);
        r[keyword] = owner(text, keyword, arg);
        k++;
        break;
      case 'mode': {
        actions = true;
        if (r.mode !== undefined) throw invalid(text, 'mode is given twice');
        if (!arg || arg.variable || !/^[0-7]{1,6}$/.test(arg.text) || Number.parseInt(arg.text, 8) > 0o7777)
          throw invalid(
            text,
            `mode "${arg?.text ?? ''}" is not an octal mode from 0 to 7777`,
            'Write modes in octal, e.g. mode 0660.',
          );
        r.mode = Number.parseInt(arg.text, 8);
        k++;
        break;
      }
      case 'include': {
        actions = true;
        if (r.include !== undefined) throw invalid(text, 'include is given twice');
        if (!arg) throw invalid(text, 'expecting a ruleset after include');
        if (arg.variable) {
          const b = BUILTIN_BY_NAME.get(arg.text);
          if (!b)
            throw invalid(
              text,
              `unknown ruleset name $${arg.text}`,
              'brig knows FreeBSD’s default rulesets: $devfsrules_hide_all, $devfsrules_unhide_basic, $devfsrules_unhide_login, $devfsrules_jail, $devfsrules_jail_vnet.',
            );
          r.include = b.number;
        } else {
          const v = ruleNumber(text, arg.text, 'ruleset');
          if (v === 0) throw invalid(text, 'ruleset 0 cannot be included');
          r.include = v;
        }
        k++;
        break;
      }
      case 'major':
        throw invalid(text, 'the major condition was removed from devfs(8)', 'Match the device by path.');
      default:
        throw invalid(text, `unknown word "${keyword}"`);
    }
  }
  if (!actions) throw invalid(text, 'the rule has no action (hide, unhide, user, group, mode or include)');
  return r;
}

export function parseRules(texts: readonly string[]): DevfsRule[] {
  return texts.map(parseRule);
}

const SAFE = /^[A-Za-z0-9_.,:+@%=/-]+$/;

/** sh(1)-quote a word: bare when safe, else in single quotes. */
export function quoteWord(w: string): string {
  return SAFE.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** The rule as devfs(8) argument words (after `add`), without the rule number and unquoted. */
export function ruleWords(r: DevfsRule): string[] {
  const out: string[] = [];
  if (r.type !== undefined) out.push('type', r.type);
  if (r.path !== undefined) out.push('path', r.path);
  if (r.visibility !== undefined) out.push(r.visibility);
  if (r.user !== undefined) out.push('user', String(r.user));
  if (r.group !== undefined) out.push('group', String(r.group));
  if (r.mode !== undefined) out.push('mode', r.mode.toString(8).padStart(4, '0'));
  if (r.include !== undefined) out.push('include', String(r.include));
  return out;
}

/** The canonical spelling of one rule (see the header). */
export function formatRule(r: DevfsRule): string {
  const w = ruleWords(r);
  const out: string[] = [];
  for (let k = 0; k < w.length; k++) {
    if (w[k] === 'include' && r.include !== undefined && BUILTIN_BY_NUMBER.has(r.include)) {
      out.push('include', `$${BUILTIN_BY_NUMBER.get(r.include)!.name}`);
      k++;
      continue;
    }
    out.push(quoteWord(w[k]!));
  }
  return out.join(' ');
}

/** Parse and print canonically: a rule's canonical spelling. */
export function canonicalRule(text: string): string {
  return formatRule(parseRule(text));
}

/** True when the rule can only take away: it hides and does nothing else. */
export function onlyHides(r: DevfsRule): boolean {
  return (
    r.visibility === 'hide' &&
    r.user === undefined &&
    r.group === undefined &&
    r.mode === undefined &&
    r.include === undefined
  );
}
