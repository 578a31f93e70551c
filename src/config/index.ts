export { checkConfig, checkFile, loadConfig, type CheckResult, type LoadOptions } from './loader.ts';
export { findSystem, systemByName, type Config } from './config.ts';
export { formatProblems, type ConfigIssue, type ProblemCode } from './problems.ts';
export type { ConfigInput, ConnectorKind, PasswordConfig, RawConfig, SystemConfig } from './schema.ts';
