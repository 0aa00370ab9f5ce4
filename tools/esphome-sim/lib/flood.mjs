// ESPHOME_SIM_FLOOD_LINES=N: a fast-printing compile. Before its normal compile phase the
// simulator prints N `Compiling …` lines to stdout as fast as the reader takes them (writes are
// batched and wait for 'drain', so the simulator's own memory stays flat). Used to measure how
// a build server copes with a build that prints faster than its sender reads (issue 18 §1).

const BATCH = 2000;

/** N from the environment: a non-negative integer, else 0 (no flood). */
export function floodLines(env) {
  const raw = env.ESPHOME_SIM_FLOOD_LINES;
  if (raw === undefined || !/^\d{1,9}$/.test(raw.trim())) return 0;
  return Number.parseInt(raw.trim(), 10);
}

/** Line i of the flood (0-based), newline included. */
export function floodLine(name, i) {
  return `Compiling .pioenvs/${name}/flood/${String(i).padStart(7, '0')}.cpp.o\n`;
}

/** Prints the flood to `stream`, honouring its back-pressure. */
export async function printFlood(stream, name, n) {
  for (let i = 0; i < n; ) {
    let chunk = '';
    const end = Math.min(n, i + BATCH);
    for (; i < end; i++) chunk += floodLine(name, i);
    if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
  }
}
