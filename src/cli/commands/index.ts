/**
 * Every command, once: its words (the path first, then aliases and old Nomad's top-level verbs) and how to load
 * its module. A new command is one file here plus one line in this table. The table is light on purpose: the
 * CLI loads only the module of the command it runs (a dynamic import), so `drover job run` does not pay for
 * the other ~70 command modules at start-up; help listings and unknown commands load them all (`loadCommands`).
 * index.test.ts checks that the words here match each spec's path, aliases and legacy verbs.
 */
import type { CommandSpec } from '../command.js';

export interface CommandEntry {
  /** `job run`, then the spec's aliases and legacy verbs (`run`). */
  words: readonly string[];
  load(): Promise<CommandSpec>;
}

/** In the order `drover --help` lists them. */
export const COMMAND_TABLE: readonly CommandEntry[] = [
  { words: ['agent'], load: async () => (await import('./agent.js')).agent },
  {
    words: ['operator snapshot save'],
    load: async () => (await import('./operator-snapshot.js')).operatorSnapshotSave,
  },
  {
    words: ['operator snapshot restore'],
    load: async () => (await import('./operator-snapshot.js')).operatorSnapshotRestore,
  },
  { words: ['sim'], load: async () => (await import('./sim.js')).sim },
  { words: ['job run', 'run'], load: async () => (await import('./job-run.js')).jobRun },
  { words: ['job init', 'init'], load: async () => (await import('./job-init.js')).jobInit },
  { words: ['job plan', 'plan'], load: async () => (await import('./job-plan.js')).jobPlan },
  { words: ['job status', 'status'], load: async () => (await import('./job-status.js')).jobStatus },
  { words: ['job stop', 'stop'], load: async () => (await import('./job-stop.js')).jobStop },
  { words: ['job inspect'], load: async () => (await import('./job-inspect.js')).jobInspect },
  { words: ['job validate'], load: async () => (await import('./job-validate.js')).jobValidate },
  { words: ['job history'], load: async () => (await import('./job-history.js')).jobHistory },
  { words: ['job revert'], load: async () => (await import('./job-revert.js')).jobRevert },
  { words: ['job promote'], load: async () => (await import('./job-promote.js')).jobPromote },
  { words: ['job scale'], load: async () => (await import('./job-scale.js')).jobScale },
  { words: ['job dispatch'], load: async () => (await import('./job-dispatch.js')).jobDispatch },
  { words: ['job periodic force'], load: async () => (await import('./job-periodic-force.js')).jobPeriodicForce },
  { words: ['job scaling-events'], load: async () => (await import('./job-scaling-events.js')).jobScalingEvents },
  { words: ['job restart'], load: async () => (await import('./job-restart.js')).jobRestart },
  { words: ['alloc status'], load: async () => (await import('./alloc-status.js')).allocStatus },
  { words: ['alloc logs'], load: async () => (await import('./alloc-logs.js')).allocLogs },
  { words: ['alloc fs'], load: async () => (await import('./alloc-fs.js')).allocFs },
  { words: ['alloc exec'], load: async () => (await import('./alloc-exec.js')).allocExec },
  { words: ['event stream'], load: async () => (await import('./event-stream.js')).eventStream },
  { words: ['alloc restart'], load: async () => (await import('./alloc-restart.js')).allocRestart },
  { words: ['alloc signal'], load: async () => (await import('./alloc-signal.js')).allocSignal },
  { words: ['alloc stop'], load: async () => (await import('./alloc-stop.js')).allocStop },
  { words: ['node status', 'node-status'], load: async () => (await import('./node-status.js')).nodeStatus },
  { words: ['node eligibility'], load: async () => (await import('./node-eligibility.js')).nodeEligibility },
  { words: ['node drain'], load: async () => (await import('./node-drain.js')).nodeDrain },
  { words: ['eval status'], load: async () => (await import('./eval-status.js')).evalStatus },
  { words: ['deployment status'], load: async () => (await import('./deployment-status.js')).deploymentStatus },
  { words: ['service list'], load: async () => (await import('./service.js')).serviceList },
  { words: ['service info'], load: async () => (await import('./service.js')).serviceInfo },
  { words: ['gateway'], load: async () => (await import('./gateway.js')).gateway },
  { words: ['gateway routes'], load: async () => (await import('./gateway-routes.js')).gatewayRoutes },
  { words: ['gateway certs'], load: async () => (await import('./gateway-certs.js')).gatewayCerts },
  { words: ['var put'], load: async () => (await import('./var-put.js')).varPut },
  { words: ['var get'], load: async () => (await import('./var-get.js')).varGet },
  { words: ['var list'], load: async () => (await import('./var-list.js')).varList },
  { words: ['var purge'], load: async () => (await import('./var-purge.js')).varPurge },
  { words: ['kv put'], load: async () => (await import('./kv.js')).kvPut },
  { words: ['kv get'], load: async () => (await import('./kv.js')).kvGet },
  { words: ['kv delete'], load: async () => (await import('./kv.js')).kvDelete },
  { words: ['acl bootstrap'], load: async () => (await import('./acl.js')).aclBootstrap },
  { words: ['acl token create'], load: async () => (await import('./acl.js')).aclTokenCreate },
  { words: ['acl token list'], load: async () => (await import('./acl.js')).aclTokenList },
  { words: ['acl token info'], load: async () => (await import('./acl.js')).aclTokenInfo },
  { words: ['acl token self'], load: async () => (await import('./acl.js')).aclTokenSelf },
  { words: ['acl token delete'], load: async () => (await import('./acl.js')).aclTokenDelete },
  { words: ['acl policy apply'], load: async () => (await import('./acl.js')).aclPolicyApply },
  { words: ['acl policy list'], load: async () => (await import('./acl.js')).aclPolicyList },
  { words: ['acl policy info'], load: async () => (await import('./acl.js')).aclPolicyInfo },
  { words: ['acl policy delete'], load: async () => (await import('./acl.js')).aclPolicyDelete },
  { words: ['acl role create'], load: async () => (await import('./acl.js')).aclRoleCreate },
  { words: ['acl role list'], load: async () => (await import('./acl.js')).aclRoleList },
  { words: ['acl role delete'], load: async () => (await import('./acl.js')).aclRoleDelete },
  { words: ['namespace apply'], load: async () => (await import('./namespace.js')).namespaceApply },
  { words: ['namespace list'], load: async () => (await import('./namespace.js')).namespaceList },
  { words: ['namespace status'], load: async () => (await import('./namespace.js')).namespaceStatus },
  { words: ['namespace delete'], load: async () => (await import('./namespace.js')).namespaceDelete },
  { words: ['intention create'], load: async () => (await import('./intention.js')).intentionCreate },
  { words: ['intention list'], load: async () => (await import('./intention.js')).intentionList },
  { words: ['intention get'], load: async () => (await import('./intention.js')).intentionGet },
  { words: ['intention delete'], load: async () => (await import('./intention.js')).intentionDelete },
  { words: ['scaling policy list'], load: async () => (await import('./scaling-policy.js')).scalingPolicyList },
  { words: ['scaling policy info'], load: async () => (await import('./scaling-policy.js')).scalingPolicyInfo },
  { words: ['operator root keyring list'], load: async () => (await import('./operator-keyring.js')).keyringList },
  { words: ['operator root keyring rotate'], load: async () => (await import('./operator-keyring.js')).keyringRotate },
  { words: ['operator root keyring remove'], load: async () => (await import('./operator-keyring.js')).keyringRemove },
  { words: ['tls ca create'], load: async () => (await import('./tls.js')).tlsCaCreate },
  { words: ['tls cert create'], load: async () => (await import('./tls.js')).tlsCertCreate },
  { words: ['version'], load: async () => (await import('./version.js')).version },
  {
    words: ['server members', 'server-members'],
    load: async () => (await import('./server-members.js')).serverMembers,
  },
  { words: ['server join'], load: async () => (await import('./server-members.js')).serverJoin },
  {
    words: ['operator raft list-peers'],
    load: async () => (await import('./server-members.js')).operatorRaftListPeers,
  },
];

/** Every command's spec, in table order (for help listings and suggestions). */
export function loadCommands(): Promise<CommandSpec[]> {
  return Promise.all(COMMAND_TABLE.map((e) => e.load()));
}

/** The entry whose words are the longest prefix of `args` (the words after `drover`), with the words matched. */
export function findCommand(args: readonly string[]): { entry: CommandEntry; words: string } | undefined {
  let best: { entry: CommandEntry; words: string; n: number } | undefined;
  for (const entry of COMMAND_TABLE) {
    for (const words of entry.words) {
      const w = words.split(' ');
      if (w.length > args.length || (best && w.length <= best.n)) continue;
      if (w.every((x, i) => args[i] === x)) best = { entry, words, n: w.length };
    }
  }
  return best && { entry: best.entry, words: best.words };
}

/** Whether some command's words extend `words` (`gateway` has `gateway routes`): it is also a group. */
export function isGroup(words: string): boolean {
  return COMMAND_TABLE.some((e) => e.words.some((w) => w.startsWith(`${words} `)));
}
