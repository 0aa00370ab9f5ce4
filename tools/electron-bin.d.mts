export declare function findElectron(env?: NodeJS.ProcessEnv): { bin: string | null; reason: string };
