// The TCP listeners a process owns, read from /proc (Linux): which sockets does this real child
// have in LISTEN state, on which address and port. Used to show "no port opens unless asked".
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { must } from './must';

export interface Listener {
  address: string;
  port: number;
}

function hexToIPv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255].join('.');
}

function hexToIPv6(hex: string): string {
  // /proc prints four little-endian 32-bit words.
  const words: string[] = [];
  for (let w = 0; w < 4; w++) {
    const chunk = hex.slice(w * 8, w * 8 + 8);
    const bytes = chunk.match(/../g)!.reverse().join('');
    words.push(bytes.slice(0, 4), bytes.slice(4, 8));
  }
  const full = words.map((x) => x.replace(/^0+(?=.)/, '').toLowerCase()).join(':');
  if (full === '0:0:0:0:0:0:0:0') return '::';
  if (full === '0:0:0:0:0:0:0:1') return '::1';
  return full;
}

/** LISTEN sockets of `pid` (TCP over IPv4 and IPv6). */
export function listeningSockets(pid: number): Listener[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(must(m[1]));
    } catch {
      // fd closed meanwhile
    }
  }
  const out: Listener[] = [];
  for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]] as const) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(must(f[9]))) continue;
      const [addr, port] = must(f[1]).split(':');
      if (addr === undefined || port === undefined) continue;
      out.push({ address: v6 ? hexToIPv6(addr) : hexToIPv4(addr), port: Number.parseInt(port, 16) });
    }
  }
  return out;
}
