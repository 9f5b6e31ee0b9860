/**
 * ifconfig(8) with epair(4) and if_bridge(4) on the simulated host.
 *
 *   ifconfig [-j jail] [-a]                    show every interface of that vnet
 *   ifconfig [-j jail] -l                      names, one line
 *   ifconfig epair[N] create [params]          prints `epairNa`; creates epairNa + epairNb
 *   ifconfig bridge[N] create [params]         prints `bridgeN`
 *   ifconfig [-j jail] IF [params]             show, or apply params in order:
 *     up | down | inet A[/N] [netmask M] [alias | -alias | delete] | inet6 A[/N] [prefixlen N]
 *     [alias | -alias | delete] | addm IF | deletem IF | vnet JAIL | -vnet JAIL | name NEW |
 *     mtu N | description TEXT | -description | ether MAC | destroy
 *
 * Kernel rules modelled: unit numbers are the lowest free; destroying either half of an epair
 * destroys both (wherever the other half is); moving an interface to a vnet jail drops its
 * addresses, brings it down and removes it from its bridge; a vnet jail's interfaces return to
 * the host when it goes; a bridge member must live in the bridge's vnet and be on no bridge.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { HostState, InterfaceState } from './host-state.ts';
import { findJail } from './jail-tools.ts';
import { die, getopt, has, ok, optVal, type ToolContext, type ToolOutput, uint } from './tool.ts';

const USAGE = `usage: ifconfig [-j jail] [-f type:format] [-L] [-C] [-g groupname] interface address_family
                [address [dest_address]] [parameters]
       ifconfig [-j jail] interface create
       ifconfig [-j jail] -a [-L] [-C] [-g groupname] [-d] [-m] [-u] [-v] [address_family]
       ifconfig [-j jail] -l [-d] [-u] [address_family]
       ifconfig [-j jail] [-L] [-C] [-g groupname] [-d] [-m] [-u] [-v]`;

function mac(name: string, vnet: number): string {
  let h = 2166136261;
  for (const c of `${vnet}/${name}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  const b = [0x02, (h >>> 24) & 0xff, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff, name.length & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

type AddressMode = 'set' | 'alias' | 'delete';

/** An IPv6 prefix length, 0 to 128. */
function prefixLen(v: string): number | undefined {
  const n = uint(v);
  return n !== undefined && n <= 128 ? n : undefined;
}

/**
 * SIOCAIFADDR / SIOCDIFADDR (`_IN6` for inet6): adds or deletes one address and brings the
 * interface up on an add. Without `alias`, an inet address replaces the first one; inet6 always adds.
 */
function changeAddress(
  cur: InterfaceState,
  family: 'inet' | 'inet6',
  entry: { addr: string; prefix: number },
  mode: AddressMode,
): void {
  const list = cur[family];
  const ioctl = family === 'inet' ? '' : '_IN6';
  if (mode === 'delete') {
    const idx = list.findIndex((a) => a.addr === entry.addr);
    if (idx < 0) die(`ifconfig: ioctl (SIOCDIFADDR${ioctl}): Can't assign requested address`);
    list.splice(idx, 1);
    return;
  }
  if (list.some((a) => a.addr === entry.addr)) die(`ifconfig: ioctl (SIOCAIFADDR${ioctl}): File exists`);
  if (family === 'inet' && mode === 'set' && list.length > 0) list[0] = entry;
  else list.push(entry);
  cur.up = true;
}

function maskHex(prefix: number): string {
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return `0x${m.toString(16).padStart(8, '0')}`;
}

function broadcast(addr: string, prefix: number): string {
  const n = addr.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const b = (n | ~m) >>> 0;
  return [24, 16, 8, 0].map((s) => (b >>> s) & 0xff).join('.');
}

export function showInterface(st: HostState, i: InterfaceState): string {
  const loop = i.kind === 'loopback';
  const flags = loop
    ? i.up
      ? '8049<UP,LOOPBACK,RUNNING,MULTICAST>'
      : '8008<LOOPBACK,MULTICAST>'
    : i.up
      ? '8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>'
      : '8802<BROADCAST,SIMPLEX,MULTICAST>';
  let s = `${i.name}: flags=${flags} metric 0 mtu ${i.mtu}\n`;
  if (i.description) s += `\tdescription: ${i.description}\n`;
  if (i.ether) s += `\tether ${i.ether}\n`;
  for (const a of i.inet) {
    s += `\tinet ${a.addr} netmask ${maskHex(a.prefix)}${loop ? '' : ` broadcast ${broadcast(a.addr, a.prefix)}`}\n`;
  }
  for (const a of i.inet6) s += `\tinet6 ${a.addr} prefixlen ${a.prefix}\n`;
  if (i.kind === 'bridge') {
    s += '\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15\n';
    s += '\tmaxage 20 holdcnt 6 proto rstp maxaddr 2000 timeout 1200\n';
    for (const m of i.members ?? []) s += `\tmember: ${m} flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\n`;
  }
  const group = i.kind === 'loopback' ? 'lo' : i.kind === 'ethernet' ? undefined : i.kind;
  if (group) s += `\tgroups: ${group}\n`;
  if (i.kind === 'epair') {
    s += '\tmedia: Ethernet 10Gbase-T (10Gbase-T <full-duplex>)\n';
    s += `\tstatus: ${i.up && st.interfaces.some((p) => p.name === i.peer && p.up) ? 'active' : 'no carrier'}\n`;
  }
  s += `\tnd6 options=${loop ? '21<PERFORMNUD,AUTO_LINKLOCAL>' : '29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>'}\n`;
  return s;
}

function lowestUnit(st: HostState, names: (n: number) => string[]): number {
  for (let n = 0; ; n++) if (!names(n).some((x) => st.interfaces.some((i) => i.name === x))) return n;
}

function parseV4(s: string): { addr: string; prefix?: number } | undefined {
  const [addr, len] = s.split('/');
  if (!addr || !isIPv4(addr)) return undefined;
  if (len === undefined) return { addr };
  const p = uint(len);
  return p !== undefined && p <= 32 ? { addr, prefix: p } : undefined;
}

function parseMask(s: string): number | undefined {
  let n: number;
  if (/^0x[0-9a-f]{1,8}$/i.test(s)) n = Number.parseInt(s.slice(2), 16) >>> 0;
  else if (isIPv4(s)) n = s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);
  else return undefined;
  const bits = n.toString(2).padStart(32, '0');
  return /^1*0*$/.test(bits) ? (bits.indexOf('0') < 0 ? 32 : bits.indexOf('0')) : undefined;
}

export function ifconfigTool(ctx: ToolContext, args: string[]): ToolOutput {
  const st = ctx.st;
  const r = getopt(args, 'adf:g:Cj:kLlmnuv', 'ifconfig', USAGE);
  let vnet = 0;
  let readOnlyJail = false;
  const j = optVal(r, 'j');
  if (j !== undefined) {
    const jail = findJail(st, j);
    if (!jail) die(`ifconfig: jail "${j}" not found`);
    if (jail.params.vnet === 'new') vnet = jail.jid;
    else readOnlyJail = true;
  }
  const here = () => st.interfaces.filter((i) => i.vnet === vnet);
  if (has(r, 'l')) {
    if (r.rest.length > 1) die(USAGE);
    return ok(
      `${here()
        .map((i) => i.name)
        .join(' ')}\n`,
    );
  }
  if (r.rest.length === 0 || has(r, 'a')) {
    if (r.rest.length > (has(r, 'a') ? 1 : 0)) die(USAGE);
    return ok(
      here()
        .map((i) => showInterface(st, i))
        .join(''),
    );
  }
  const ifname = r.rest[0]!;
  let params = r.rest.slice(1);
  let out = '';
  let iface: InterfaceState | undefined;
  const eperm = (ioc: string) => die(`ifconfig: ioctl (${ioc}): Operation not permitted`);
  if (params[0] === 'create') {
    if (readOnlyJail) eperm('SIOCIFCREATE2');
    const m = /^(epair|bridge)(\d*)$/.exec(ifname);
    if (!m) die(`ifconfig: SIOCIFCREATE2 (${ifname}): Invalid argument`);
    const [, kind, unitText] = m as unknown as [string, 'epair' | 'bridge', string];
    const names = (n: number) => (kind === 'epair' ? [`epair${n}a`, `epair${n}b`] : [`bridge${n}`]);
    const unit = unitText === '' ? lowestUnit(st, names) : Number(unitText);
    if (names(unit).some((x) => st.interfaces.some((i) => i.name === x)))
      die(`ifconfig: SIOCIFCREATE2 (${ifname}): File exists`);
    if (kind === 'epair') {
      const [a, b] = names(unit) as [string, string];
      st.interfaces.push({
        name: a,
        vnet,
        kind: 'epair',
        peer: b,
        up: false,
        mtu: 1500,
        ether: mac(a, vnet),
        inet: [],
        inet6: [],
      });
      st.interfaces.push({
        name: b,
        vnet,
        kind: 'epair',
        peer: a,
        up: false,
        mtu: 1500,
        ether: mac(b, vnet),
        inet: [],
        inet6: [],
      });
      iface = st.interfaces.find((i) => i.name === a && i.vnet === vnet)!;
    } else {
      const n = names(unit)[0]!;
      st.interfaces.push({
        name: n,
        vnet,
        kind: 'bridge',
        up: false,
        mtu: 1500,
        ether: mac(n, vnet),
        inet: [],
        inet6: [],
        members: [],
      });
      iface = st.interfaces.find((i) => i.name === n && i.vnet === vnet)!;
    }
    params = params.slice(1);
    out = `${iface.name}\n`;
  } else {
    iface = here().find((i) => i.name === ifname);
    // `IF -vnet JAIL` names an interface that lives in the jail, not here.
    if (!iface && params[0] === '-vnet' && params.length === 2) {
      iface = { name: ifname, vnet, kind: 'ethernet', up: false, mtu: 0, inet: [], inet6: [] };
    }
    if (!iface) die(`ifconfig: interface ${ifname} does not exist`);
    if (params.length === 0) return ok(showInterface(st, iface));
    if (readOnlyJail) eperm('SIOCSIFFLAGS');
  }
  const cur = iface;
  for (let k = 0; k < params.length; k++) {
    const w = params[k]!;
    const next = () => {
      const v = params[++k];
      if (v === undefined) die(`ifconfig: missing argument for ${w}`);
      return v;
    };
    /** The words that may follow an address: its mask (`maskWord`, read by `parse`), then alias or delete. */
    const addressOptions = (maskWord: string, parse: (v: string) => number | undefined) => {
      let prefix: number | undefined;
      let mode: AddressMode = 'set';
      while (k + 1 < params.length) {
        const o = params[k + 1]!;
        if (o === maskWord) {
          k++;
          const p = parse(next());
          if (p === undefined) die(`ifconfig: ${params[k]}: bad value`);
          prefix = p;
        } else if (o === 'alias' || o === 'add') {
          k++;
          mode = 'alias';
        } else if (o === '-alias' || o === 'delete' || o === 'remove') {
          k++;
          mode = 'delete';
        } else break;
      }
      return { prefix, mode };
    };
    switch (w) {
      case 'up':
        cur.up = true;
        break;
      case 'down':
        cur.up = false;
        break;
      case 'mtu': {
        const v = next();
        const n = uint(v);
        if (n === undefined || n < 72 || n > 65535)
          die('ifconfig: ioctl SIOCSIFMTU (set mtu): Invalid argument');
        cur.mtu = n;
        break;
      }
      case 'description':
      case 'descr':
        cur.description = next();
        break;
      case '-description':
      case '-descr':
        delete cur.description;
        break;
      case 'ether':
      case 'lladdr':
      case 'link': {
        const v = next();
        if (!/^([0-9a-f]{1,2}:){5}[0-9a-f]{1,2}$/i.test(v)) die(`ifconfig: malformed link-level address`);
        cur.ether = v.toLowerCase();
        break;
      }
      case 'inet': {
        const v = parseV4(next());
        if (!v) die(`ifconfig: ${params[k]}: bad value`);
        const o = addressOptions('netmask', parseMask);
        const prefix = o.prefix ?? v.prefix ?? (cur.kind === 'loopback' ? 8 : 24);
        changeAddress(cur, 'inet', { addr: v.addr, prefix }, o.mode);
        break;
      }
      case 'inet6': {
        const raw = next();
        const [addr, len] = raw.split('/');
        if (!addr || !isIPv6(addr) || (len !== undefined && prefixLen(len) === undefined))
          die(`ifconfig: ${raw}: bad value`);
        const o = addressOptions('prefixlen', prefixLen);
        changeAddress(
          cur,
          'inet6',
          { addr, prefix: o.prefix ?? (len === undefined ? 64 : Number(len)) },
          o.mode,
        );
        break;
      }
      case 'addm':
      case 'deletem': {
        const m = next();
        const op = w === 'addm' ? 'BRDGADD' : 'BRDGDEL';
        if (cur.kind !== 'bridge') die(`ifconfig: ${op} ${m}: Invalid argument`);
        const member = st.interfaces.find((i) => i.name === m && i.vnet === cur.vnet);
        if (w === 'deletem') {
          if (!cur.members!.includes(m)) die(`ifconfig: BRDGDEL ${m}: No such file or directory`);
          cur.members = cur.members!.filter((x) => x !== m);
          break;
        }
        if (!member || member === cur)
          die(`ifconfig: BRDGADD ${m}: ${member ? 'Invalid argument' : 'No such file or directory'}`);
        if (cur.members!.includes(m)) die(`ifconfig: BRDGADD ${m}: File exists`);
        if (st.interfaces.some((i) => i.kind === 'bridge' && i.vnet === cur.vnet && i.members?.includes(m)))
          die(`ifconfig: BRDGADD ${m}: Device busy`);
        if (member.kind === 'loopback' || member.kind === 'bridge')
          die(`ifconfig: BRDGADD ${m}: Invalid argument`);
        cur.members!.push(m);
        break;
      }
      case 'vnet':
      case '-vnet': {
        const target = next();
        const jail = findJail(st, target);
        if (!jail) die(`ifconfig: jail "${target}" not found`);
        if (jail.params.vnet !== 'new')
          die(`ifconfig: ioctl SIOC${w === 'vnet' ? 'S' : 'G'}IFVNET: Invalid argument`);
        if (w === 'vnet') {
          if (cur.kind === 'loopback') die('ifconfig: ioctl SIOCSIFVNET: Operation not permitted');
          if (cur.vnet === jail.jid) die('ifconfig: ioctl SIOCSIFVNET: Invalid argument');
          detach(st, cur);
          moveTo(st, cur, jail.jid);
        } else {
          const inJail = st.interfaces.find((i) => i.name === ifname && i.vnet === jail.jid);
          if (!inJail) die(`ifconfig: ioctl SIOCSIFRVNET: No such device or address`);
          if (st.interfaces.some((i) => i.name === ifname && i.vnet === vnet))
            die('ifconfig: ioctl SIOCSIFRVNET: File exists');
          detach(st, inJail);
          moveTo(st, inJail, vnet);
        }
        return ok(out);
      }
      case 'name': {
        const n = next();
        if (!/^[A-Za-z][A-Za-z0-9_.-]{0,14}$/.test(n))
          die('ifconfig: ioctl SIOCSIFNAME (set name): Invalid argument');
        if (st.interfaces.some((i) => i.name === n && i.vnet === cur.vnet))
          die('ifconfig: ioctl SIOCSIFNAME (set name): File exists');
        const old = cur.name;
        for (const i of st.interfaces) {
          if (i.peer === old) i.peer = n;
          if (i.members && i.vnet === cur.vnet) i.members = i.members.map((x) => (x === old ? n : x));
        }
        cur.name = n;
        out = out ? `${n}\n` : `${n}\n`;
        break;
      }
      case 'destroy': {
        if (cur.kind === 'loopback' || cur.kind === 'ethernet')
          die('ifconfig: SIOCIFDESTROY: Invalid argument');
        destroyInterface(st, cur);
        return ok(out);
      }
      default:
        die(`ifconfig: ${w}: bad value`);
    }
  }
  return ok(out);
}

/** An interface entering a vnet goes to the end of that vnet's list (ifconfig -l order). */
export function moveTo(st: HostState, i: InterfaceState, vnet: number): void {
  st.interfaces.splice(st.interfaces.indexOf(i), 1);
  i.vnet = vnet;
  st.interfaces.push(i);
}

function detach(st: HostState, i: InterfaceState): void {
  for (const b of st.interfaces)
    if (b.kind === 'bridge' && b.vnet === i.vnet && b.members)
      b.members = b.members.filter((m) => m !== i.name);
  i.up = false;
  i.inet = [];
  i.inet6 = [];
}

export function destroyInterface(st: HostState, i: InterfaceState): void {
  const gone = [i];
  if (i.kind === 'epair') {
    const peer = st.interfaces.find((p) => p.name === i.peer && p.peer === i.name);
    if (peer) gone.push(peer);
  }
  for (const g of gone) {
    detach(st, g);
    st.interfaces.splice(st.interfaces.indexOf(g), 1);
  }
}
