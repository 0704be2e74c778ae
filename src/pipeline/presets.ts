// The ablations of the paper's section 4.3 as named presets. A preset is a layer of run settings
// between the defaults and everything else (defaults < preset < stored run < config file < flags), so
// an explicit flag still wins. Each preset sets the fields of its table's axis; the other axis stays at
// SPOGW's own setting, as the paper varies one at a time (Table 3 trains on D_SS, Table 4 with the
// masked KL term to the previous checkpoint). The preset's name is stored with the run, and `table`
// labels its rows with the paper's names.

/** The run settings the presets set (a subset of RunConfig; config.ts derives the `preset` field from the names here). */
export interface PresetSettings {
  beta?: number;
  reference?: "previous" | "base";
  klMask?: "advantage" | "all";
  groupSize?: number;
  keep?: number;
  selection?: "variance" | "random";
  dropZeroVariance?: boolean;
}

export const PRESET_NAMES = ["no-kl", "kl-base", "kl-previous-nomask", "spogw", "d-rs", "d-rsf", "d-s", "d-ss"] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export interface Preset {
  /** Where the paper reports it. */
  table: "Table 3" | "Table 4";
  /** The paper's row, in its words. */
  row: string;
  /** The paper's HumanEval solve rate for the row (Qwen2.5-7B-Instruct generator, GPT-4o-mini executor). */
  paperHumanEval: number;
  settings: PresetSettings;
}

/** Screening and sharpening of the paper's defaults: groups of n = 14 sharpened to 2t = 8. */
const SCREEN_AND_SHARPEN = { groupSize: 14, keep: 4, selection: "variance", dropZeroVariance: true } as const;

export const PRESETS: Readonly<Record<PresetName, Preset>> = {
  "no-kl": { table: "Table 3", row: "w/o KL term (reference: none)", paperHumanEval: 94.9, settings: { beta: 0, reference: "previous" } },
  "kl-base": { table: "Table 3", row: "w/ KL term, reference: initial base model, no KL mask", paperHumanEval: 94.4, settings: { beta: 0.1, reference: "base", klMask: "all" } },
  "kl-previous-nomask": {
    table: "Table 3", row: "w/ KL term, reference: previous iteration's checkpoint, no KL mask", paperHumanEval: 95.4,
    settings: { beta: 0.1, reference: "previous", klMask: "all" },
  },
  spogw: {
    table: "Table 3", row: "w/ KL term, reference: previous iteration's checkpoint, KL mask (SPOGW)", paperHumanEval: 96.2,
    settings: { beta: 0.1, reference: "previous", klMask: "advantage", ...SCREEN_AND_SHARPEN },
  },
  // Figure 2: "The training group size is fixed at 8": D_RS, D_RSF and D_S use groups of 8 as they are.
  "d-rs": { table: "Table 4", row: "D_RS: random sampling (groups of 8, no filtering)", paperHumanEval: 93.4, settings: { groupSize: 8, keep: 0, selection: "random", dropZeroVariance: false } },
  "d-rsf": { table: "Table 4", row: "D_RSF: random sampling, filtering first (groups of 8)", paperHumanEval: 94.9, settings: { groupSize: 8, keep: 0, selection: "random", dropZeroVariance: true } },
  "d-s": { table: "Table 4", row: "D_S: only screening (groups of 8)", paperHumanEval: 95.7, settings: { groupSize: 8, keep: 0, selection: "variance", dropZeroVariance: true } },
  "d-ss": { table: "Table 4", row: "D_SS: screening and sharpening (groups of 14 sharpened to 8)", paperHumanEval: 96.2, settings: SCREEN_AND_SHARPEN },
};

/** The settings layer of a preset (empty for none). */
export function presetLayer(name: PresetName | null): PresetSettings {
  return name === null ? {} : { ...PRESETS[name].settings };
}

/** Fields a run sets otherwise than its preset does (an explicit flag or file won over the preset). */
export function presetOverrides(config: { preset: PresetName | null } & PresetSettings): string[] {
  return Object.entries(presetLayer(config.preset))
    .filter(([field, value]) => JSON.stringify(config[field as keyof PresetSettings]) !== JSON.stringify(value))
    .map(([field]) => field);
}
