// `spogw-native update RUN`: train the next adapter on one iteration's groups, with the run's own settings.
import { runUpdate } from "../../pipeline/index.js";
import { phaseCommand } from "../utils/phaseCommand.js";

export const updateCommand = phaseCommand("update", "Train the next adapter on the iteration's groups (ioGRPO-mKL, AdamW; GGUF + PEFT output; resumable per step)", runUpdate);
