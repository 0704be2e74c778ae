// `spogw-native dataset RUN`: build one iteration's group-wise dataset, with the run's own settings.
import { runDataset } from "../../pipeline/index.js";
import { phaseCommand } from "../utils/phaseCommand.js";

export const datasetCommand = phaseCommand("dataset", "Build the iteration's group-wise dataset: combinations, filtering, screening, sharpening, advantages", runDataset);
