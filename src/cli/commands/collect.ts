// `spogw-native collect RUN`: sample and execute one iteration's workflows, with the run's own settings.
import { runCollect } from "../../pipeline/index.js";
import { phaseCommand } from "../utils/phaseCommand.js";

export const collectCommand = phaseCommand("collect", "Sample m workflows per query from the current adapter and execute each scoreRuns times (resumable)", runCollect);
