export declare function findElectron(env?: NodeJS.ProcessEnv, pkgRoot?: string): { bin: string | null; reason: string };
