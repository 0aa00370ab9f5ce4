// The worker of offthread-sha256.ts: hashes a SharedArrayBuffer payload while its owner writes it.
// Plain CommonJS, loaded as a file (no eval'd source, no loader hooks needed in the thread); the
// builds copy it next to their bundle (tools/build-node.mjs, electron.vite.config.ts).
// Control words (Int32, in `control`): [0] bytes written by the owner (-1 = abandoned),
// [1] state (0 running, 1 done: digest at byte 16, 2 gave up).
'use strict';
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');

const AVAIL = 0;
const STATE = 1;
const DONE = 1;
const GAVE_UP = 2;
const DIGEST_OFFSET = 16;

parentPort.on('message', ({ data, control, total, idleMs }) => {
  const ctrl = new Int32Array(control, 0, 2);
  const bytes = Buffer.from(data, 0, total);
  const hash = createHash('sha256');
  let pos = 0;
  let state = GAVE_UP;
  for (;;) {
    const avail = Atomics.load(ctrl, AVAIL);
    if (avail < 0) break;
    if (avail > pos) {
      hash.update(bytes.subarray(pos, avail));
      pos = avail;
      if (pos >= total) {
        hash.digest().copy(Buffer.from(control, DIGEST_OFFSET, 32));
        state = DONE;
        break;
      }
      continue;
    }
    // No new bytes: sleep until the owner publishes more, or give up after idleMs.
    if (Atomics.wait(ctrl, AVAIL, avail, idleMs) === 'timed-out' && Atomics.load(ctrl, AVAIL) === avail) break;
  }
  Atomics.store(ctrl, STATE, state);
  Atomics.notify(ctrl, STATE);
  parentPort.postMessage(state);
});
