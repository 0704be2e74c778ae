// Command-line flags for every run configuration field (kebab-case of the field name), a --config
// file, and the conversion back into a config layer. Each flag's type, help and aliases come from the
// field's row in RUN_CONFIG_FIELDS. No flag has a yargs default, so a flag overrides the file only when
// it is given; `--help` shows the table's default.
import type { Argv, Options } from "yargs";
import { CONFIG_FIELDS, readConfigFile, resolveConfig, RUN_CONFIG_FIELDS, type ConfigField, type RunConfig } from "../../pipeline/index.js";

const kebab = (field: string) => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The yargs option of a run setting: its row's type, help (with the default) and aliases. */
function flagOption(name: keyof RunConfig): Options {
  const field: ConfigField = RUN_CONFIG_FIELDS[name];
  const fallback = field.default === undefined || field.default === null ? "" : ` [default: ${Array.isArray(field.default) ? field.default.join(" ") : String(field.default)}]`;
  return { type: field.flagType, describe: `${field.help}${fallback}`, group: "Run settings:", ...(field.alias ? { alias: [...field.alias] } : {}) };
}

/** Adds a flag for every run setting but those in `except` (a command that gives them another meaning). */
export function withRunFlags<T>(y: Argv<T>, except: ReadonlyArray<keyof RunConfig> = []): Argv<T> {
  let out = y.option("config", { type: "string", describe: "YAML or JSON file of run settings (flags override it)" }) as Argv<T>;
  for (const name of CONFIG_FIELDS) if (!except.includes(name)) out = out.option(kebab(name), flagOption(name)) as Argv<T>;
  return out;
}

/** The config layer the flags give (only fields given on the command line, none of `except`). */
export function flagLayer(argv: Record<string, unknown>, except: ReadonlyArray<keyof RunConfig> = []): Record<string, unknown> {
  const layer: Record<string, unknown> = {};
  for (const field of CONFIG_FIELDS) if (argv[field] !== undefined && !except.includes(field)) layer[field] = argv[field];
  return layer;
}

/** Defaults < `base` (an existing run's settings) < --config file < flags (none of `except`) < `over`, checked. */
export function configFromArgv(argv: Record<string, unknown>, base: object = {}, except: ReadonlyArray<keyof RunConfig> = [], over: Record<string, unknown> = {}): RunConfig {
  const file = typeof argv.config === "string" ? readConfigFile(argv.config) : {};
  return resolveConfig(base as Record<string, unknown>, file, flagLayer(argv, except), over);
}
