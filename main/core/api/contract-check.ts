// Compile-time guard: the contract's Job (dependency-free, so the renderer can import it without
// Node types) must stay the exact client view of the core's FirmwareJob. Nothing runs here.
import type { DiscoveredBuildServer, Job, JobFailure, JobStatus as CJobStatus, JobType as CJobType, QueueState } from '../../../preload/contract';
import type { FirmwareJob, JobStatus, JobType } from '../jobs/model';
import type { DiscoveredServer } from '../peer-link/discovery';
import type { FailureSummary } from '../jobs/failure-summary';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type ClientJob = Omit<FirmwareJob, 'ninja_total'>;

export const jobShapeMatches: Same<ClientJob, Omit<Job, 'failure' | 'history' | 'replaced_by'>> = true;
export const failureShapeMatches: Same<FailureSummary, JobFailure> = true;
export const statusesMatch: Same<JobStatus, CJobStatus> = true;
export const typesMatch: Same<JobType, CJobType> = true;
export const queueStateKeys: Same<keyof QueueState, 'idle' | 'running' | 'queueDepth'> = true;
export const discoveredShapeMatches: Same<DiscoveredServer, DiscoveredBuildServer> = true;
