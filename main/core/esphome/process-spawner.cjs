// Kiln's process spawner: a small long-lived child of Kiln that starts esphome and the other tools
// on request (process-spawner.ts is the Kiln side). Why: on Linux libuv starts a process with
// fork(), and the fork copies the page tables of the whole caller while the caller's event loop
// waits until the child has exec'd (the copy grows with RSS: ~4-5 ms per spawn at 250 MB on a
// quiet machine, tens of ms under load; docs/notes/performance.md "Process start"). This process
// stays small, so its forks are cheap and Kiln's loop never waits for one.
// Plain CommonJS, loaded as a file; tools/build-node.mjs copies it next to the CLI bundle (the
// desktop app does not use it: see spawnerSupported in process-spawner.ts).
//
// Protocol (JSON over the IPC channel):
//   ← { t: 'ready' }                                once, at start
//   → { t: 'run', id, file, args, cwd, env }       start file with args (own process group)
//   ← { t: 'spawned', id, pid } + handle            the child's stdout, handed to Kiln (it reads it)
//   ← { t: 'failed', id, code }                     the process could not be started
//   ← { t: 'exit', id, code, signal }               the child exited (this process reaps it)
// When Kiln goes away (the channel closes) every process group started here that is still alive
// gets SIGTERM, then SIGKILL after the grace period (argv[2], ms), and this process exits: no
// build keeps running after Kiln has gone.
'use strict';
const { spawn } = require('node:child_process');

const graceMs = Number(process.argv[2]) > 0 ? Number(process.argv[2]) : 3000;
const POLL_MS = 50;
/** Leaders of the process groups started here whose group may still be alive. */
const groups = new Set();

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function send(msg, handle) {
  if (!process.connected) return;
  try {
    process.send(msg, handle, { keepOpen: false }, () => {});
  } catch {}
}

function run(msg) {
  const { id, file, args, cwd, env } = msg;
  for (const pid of groups) if (!groupAlive(pid)) groups.delete(pid);
  let child;
  try {
    child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  } catch (err) {
    send({ t: 'failed', id, code: (err && err.code) || 'EUNKNOWN' });
    return;
  }
  if (child.pid === undefined) {
    child.once('error', (err) => send({ t: 'failed', id, code: (err && err.code) || 'EUNKNOWN' }));
    return;
  }
  groups.add(child.pid);
  // The pipe's handle goes to Kiln, which reads it itself. libuv started reading it when the
  // socket was created; stop that first, or output the child writes before Kiln's copy is
  // acknowledged (and ours closed) would be read here and dropped.
  const handle = child.stdout._handle;
  if (handle && typeof handle.readStop === 'function') {
    handle.reading = false;
    handle.readStop();
  }
  send({ t: 'spawned', id, pid: child.pid }, child.stdout);
  child.on('exit', (code, signal) => {
    if (!groupAlive(child.pid)) groups.delete(child.pid);
    send({ t: 'exit', id, code, signal });
  });
}

process.on('message', (msg) => {
  if (!msg || typeof msg !== 'object') return;
  if (msg.t === 'run' && typeof msg.id === 'number' && typeof msg.file === 'string' && Array.isArray(msg.args)) run(msg);
});

process.on('disconnect', () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {}
  }
  const deadline = Date.now() + graceMs;
  const poll = setInterval(() => {
    for (const pid of groups) if (!groupAlive(pid)) groups.delete(pid);
    if (groups.size === 0) process.exit(0);
    if (Date.now() >= deadline) {
      for (const pid of groups) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {}
      }
      process.exit(0);
    }
  }, POLL_MS);
  void poll;
});

send({ t: 'ready' });
