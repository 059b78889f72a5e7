// `podflow config check FILE`: validate without running.
import { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { warnOnStderr } from '../config-flags.js';

export function configCommand(): Command {
  const config = new Command('config').description('work with configuration files');
  config.command('check')
    .description('validate a config file (with PODFLOW_* variables applied, the metadata file read and checked) without running; with --json, print the effective configuration')
    .argument('<file>', 'YAML config file')
    .option('--json', 'print the effective configuration as JSON')
    .option('-q, --quiet', 'print nothing when valid')
    .action((file: string, opts: { json?: boolean; quiet?: boolean }) => {
      const effective = loadConfig({ file, env: process.env, warn: warnOnStderr, checkFiles: true });
      if (opts.quiet) return;
      if (opts.json) process.stdout.write(JSON.stringify(effective, redactSecrets, 2) + '\n');
      else process.stdout.write(`${file}: valid\n`);
    });
  return config;
}

const redactSecrets = (key: string, value: unknown) => (key === 'password' || key === 'headers' ? '<redacted>' : value);
