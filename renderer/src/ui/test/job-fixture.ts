// One contract Job for renderer tests: a queued local job with every field at its empty value
// (the shape the backend sends), overridden per test.
import type { Job } from '../../../../preload/contract';

export function testJob(over: Partial<Job> = {}): Job {
  return {
    job_id: 'a00000000001',
    configuration: '',
    job_type: 'compile',
    status: 'queued',
    created_at: new Date().toISOString(),
    started_at: null,
    completed_at: null,
    compile_started_at: null,
    compile_ended_at: null,
    exit_code: null,
    output: [],
    error: null,
    port: '',
    flash_bootloader: false,
    is_deferred_install: false,
    new_name: '',
    depends_on: '',
    dependency_released: false,
    progress: null,
    remote_peer: '',
    remote_job_id: '',
    remote_peer_label: '',
    device_name: '',
    device_friendly_name: '',
    source: 'local',
    source_pin_sha256: '',
    source_label: '',
    source_esphome_version: '',
    target_esphome_version: '',
    failure_reason: '',
    cancelled_by: '',
    failure: null,
    history: [],
    replaced_by: '',
    ...over,
  };
}
