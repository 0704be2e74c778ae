// The run report (one self-contained HTML file) and the data it is drawn from.
export { loadRunReportData, medianInterval, type ComparisonDataset, type IterationData, type RunReportData, type SampleWorkflow, type UpdateStepData } from "./runData.js";
export { renderRunReport, reportCharts, histogram, chartLibrarySource, escapeHtml, type ReportChart } from "./html.js";
export { loadRunEvaluations, type RunEvaluations, type TrainingIteration } from "./runData.js";
export {
  mainTable,
  klAblationTable,
  dataAblationTable,
  paperTables,
  klSettings,
  dataSettings,
  tableToMarkdown,
  tableToCsv,
  trainingTable,
  type PaperTable,
  type TableColumn,
  type TableRow,
} from "./tables.js";
export { isSweepDirectory, loadSweepReportData, renderSweepReport, sweepCharts, sweepTable, type SweepPoint, type SweepReportData } from "./sweepReport.js";
