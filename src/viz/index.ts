/**
 * precopy's views of a migration: the live dashboard, the terminal view, static reports and the
 * QEMU trace import. Every chart comes from the definitions in charts.ts.
 *
 * Wiring a run (`precopy run --dashboard`):
 *   const dashboard = await startDashboard({ title });      // 127.0.0.1, random port and token
 *   print(dashboard.url);                                    // the token is in the URL
 *   await runScenario(scenario, { onEvent: (e) => { terminal.onEvent(e); dashboard.publish(e); } });
 *   ... keep serving until Ctrl-C, then: await dashboard.close();
 */
export {
  startDashboard,
  dashboardForResults,
  type Dashboard,
  type DashboardOptions,
  type FeedMessage,
} from './dashboard-server';
export { TerminalView, type TerminalViewOptions } from './terminal';
export { alignScales, buildCharts, CHART_IDS, type ChartId, type ChartSpec } from './charts';
export { applyEvent, emptyRunView, runViewFromResult, type RunView } from './run-view';
export { reportHtml, reportSvg, roundsCsv, type NamedResult } from './report';
export { renderChartSvg } from './svg';
export { importQmp, QmpImportError, type QmpImport, type QmpImportOptions } from './qmp-import';
export { checkResult, InputError, loadResult } from './result-file';
