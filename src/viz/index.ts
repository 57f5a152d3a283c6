/**
 * precopy's views of a migration: the live dashboard, the terminal view, static reports and the
 * QEMU trace import. Everything draws from the chart definitions in charts.ts.
 */
export {
  startDashboard,
  dashboardForResults,
  type Dashboard,
  type DashboardOptions,
} from './dashboard-server';
export { buildCharts, CHART_IDS, type ChartId, type ChartSpec } from './charts';
export { applyEvent, emptyRunView, runViewFromResult, type RunView } from './run-view';
export { reportHtml, reportSvg, roundsCsv, type NamedResult } from './report';
