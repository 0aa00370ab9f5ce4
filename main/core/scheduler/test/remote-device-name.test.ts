// A remote build reads its configuration's declared names once (issue 18 §2: the YAML was read and
// parsed twice per job): the submit header and the check of the build server's artifacts use the
// same read. So a device renamed in its YAML while its build runs still gets the firmware it was
// built as, instead of the artifacts being refused as another device's.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../../../../test/support/wait-until';
import { must } from '../../../../test/support/must';
import { declaredDeviceNames } from '../../api/configurations';
import { holdingScript, startRig, type Rig } from './harness/rig';

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.dispose();
});

describe('the device name of a remote build', () => {
  it('is read once at submit: a rename while it builds does not refuse its own artifacts', async () => {
    const hold = holdingScript();
    let configDir = '';
    const r = await startRig({
      servers: 1,
      server: () => ({ onSubmit: hold.onSubmit }),
      offloader: { remote: { deviceNames: (c) => declaredDeviceNames(configDir, c) } },
    });
    rigs.push(r);
    configDir = r.off.configDir;
    const yaml = r.off.writeYaml('porch.yaml');
    const j = r.off.engine.compile({ configuration: 'porch.yaml' });
    await waitUntil(() => must(r.servers[0]).jobs.length === 1, { timeoutMs: 10_000, what: 'submitted' });
    expect(must(r.servers[0]).jobs[0]?.header).toMatchObject({ device_name: 'porch' });
    // Renamed while the build server builds the submitted configuration.
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('name: porch', 'name: front-porch'));
    hold.release(j.job_id);
    const done = await r.off.waitDone(j.job_id);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    // Staged as the device that was built.
    expect(readFileSync(join(r.off.configDir, '.esphome', 'storage', 'porch.yaml.json'), 'utf8')).toContain('"name": "porch"');
  });
});
