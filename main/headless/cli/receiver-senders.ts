// `kiln receiver senders [list]` and `kiln receiver senders remove <id|label>`: the approved
// senders of a build server's data dir (receiver-peers.json). A running `kiln receiver` on the
// same data dir notices a removal within a few seconds and ends that sender's session.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { groupedHex } from '../../core/peer-link/fingerprint';
import { RECEIVER_PEERS_FILE_NAME, ApprovedSenderStore, type StoredPeer } from '../../core/peer-link/approved-senders';
import { printableName } from '../../core/build-server/printable';

export const SENDERS_USAGE = `usage: kiln receiver senders [list] [--data-dir D]
       kiln receiver senders remove <dashboard-id|label> [--data-dir D]

List the senders approved on this build server, or remove one (its pairing is revoked: it must
pair again with a new pairing key). A running \`kiln receiver\` on the same data dir ends the
removed sender's session within a few seconds.

  --data-dir D       the build server's data dir (default $KILN_DATA_DIR or ~/.kiln-receiver)
  -h, --help         this help
`;

export interface SendersPrinter {
  out(line: string): void;
  err(line: string): void;
}

interface SendersArgs {
  action: 'list' | 'remove' | 'help';
  target?: string;
  dataDir: string;
}

function parse(argv: string[], env: NodeJS.ProcessEnv): SendersArgs {
  let dataDir = env.KILN_DATA_DIR || resolve(homedir(), '.kiln-receiver');
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === undefined) break; // i < length: never
    if (a === '-h' || a === '--help') return { action: 'help', dataDir };
    if (a === '--data-dir' || a.startsWith('--data-dir=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined || v === '') throw new Error('--data-dir needs a value');
      dataDir = v;
      continue;
    }
    if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    positional.push(a);
  }
  const [action = 'list', target, ...extra] = positional;
  if (action === 'list' && target === undefined) return { action, dataDir: resolve(dataDir) };
  if (action === 'remove' && target !== undefined && extra.length === 0) return { action, target, dataDir: resolve(dataDir) };
  if (action === 'remove') throw new Error('remove needs exactly one dashboard id or label');
  throw new Error(`unknown senders action ${JSON.stringify(printableName(action))}`);
}

function describe(p: StoredPeer): string {
  const label = printableName(p.label) || '(no label)';
  const when = p.paired_at > 0 ? new Date(p.paired_at * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : 'unknown';
  return `${label}\n    id ${p.dashboard_id}  paired ${when}  from ${printableName(p.peer_ip) || 'unknown'}\n    pin ${groupedHex(p.pin_sha256)}`;
}

/** Returns the exit code: 0 done, 1 nothing matched / ambiguous / write failed, 2 usage. */
export async function runReceiverSenders(argv: string[], print: SendersPrinter, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args: SendersArgs;
  try {
    args = parse(argv, env);
  } catch (err) {
    print.err(`kiln receiver senders: ${(err as Error).message}`);
    print.err(SENDERS_USAGE);
    return 2;
  }
  if (args.action === 'help') {
    print.out(SENDERS_USAGE);
    return 0;
  }
  const file = join(args.dataDir, RECEIVER_PEERS_FILE_NAME);
  // Listing must not create a data dir that is not there.
  if (!existsSync(file)) {
    if (args.action === 'list') {
      print.out(`no approved senders (no ${RECEIVER_PEERS_FILE_NAME} in ${args.dataDir})`);
      return 0;
    }
    print.err(`kiln receiver senders: no ${RECEIVER_PEERS_FILE_NAME} in ${args.dataDir}: nothing to remove`);
    return 1;
  }
  const store = new ApprovedSenderStore(file, { report: (m) => print.err(`kiln receiver senders: ${m}`) });
  const peers = store.list().sort((a, b) => a.paired_at - b.paired_at);
  if (args.action === 'list') {
    if (peers.length === 0) print.out('no approved senders');
    for (const p of peers) print.out(describe(p));
    return 0;
  }
  const target = args.target!;
  const byId = peers.filter((p) => p.dashboard_id === target);
  const matches = byId.length > 0 ? byId : peers.filter((p) => p.label === target || printableName(p.label) === target);
  if (matches.length === 0) {
    print.err(`kiln receiver senders: no approved sender has the id or label ${JSON.stringify(printableName(target))}`);
    return 1;
  }
  if (matches.length > 1) {
    print.err(`kiln receiver senders: ${matches.length} senders are labelled ${JSON.stringify(printableName(target))}; remove one by its id:`);
    for (const p of matches) print.err(`  ${p.dashboard_id}`);
    return 1;
  }
  const peer = matches[0];
  if (peer === undefined) return 1; // exactly one match here
  store.remove(peer.dashboard_id);
  try {
    await store.flush();
  } catch (err) {
    print.err(`kiln receiver senders: could not write ${file}: ${(err as Error).message}`);
    return 1;
  }
  print.out(`removed ${printableName(peer.label) || peer.dashboard_id} (${peer.dashboard_id}); it must pair again to send builds`);
  return 0;
}
