// The simulator's "compiler" grandchild: same process group as the simulator, inherits its
// stdout and keeps writing to it. Ends on SIGKILL, on SIGTERM unless told to ignore it, when the
// pipe's reader goes away (EPIPE), or after ESPHOME_SIM_ORPHAN_TTL seconds (default 600) so a
// leaked process cannot live forever.
import { appendSimLog } from './simlog.mjs';

const payload = JSON.parse(process.argv[2] ?? '{}');
if (payload.ignoreTerm) process.on('SIGTERM', () => {});
process.on('SIGINT', () => process.exit(1));
process.stdout.on('error', () => process.exit(1));

appendSimLog({ role: 'grandchild', label: payload.label ?? 'compile' });

const ttlSeconds = Number(process.env.ESPHOME_SIM_ORPHAN_TTL ?? 600);
setTimeout(() => process.exit(0), (Number.isFinite(ttlSeconds) && ttlSeconds > 0 ? ttlSeconds : 600) * 1000);

const name = payload.name ?? 'device';
const files = ['api/api_connection', 'api/api_pb2', 'wifi/wifi_component', 'logger/logger', 'ota/ota_esphome', 'sensor/filter'];
let i = 0;
const tick = () => {
  const file = files[i % files.length];
  i++;
  process.stdout.write(`Compiling .pioenvs/${name}/src/esphome/components/${file}.cpp.o\n`);
};
tick();
setInterval(tick, Math.max(Number(payload.intervalMs) || 300, 20));
