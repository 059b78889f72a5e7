// A configuration or usage problem the user must fix; the CLI exits with
// EXIT_USAGE for it. The message names the field, the value and what was expected.
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? `invalid configuration: ${problems[0]}` : `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}
