/**
 * Server-side rendering of the chart definitions to SVG (ECharts SSR): the same option objects
 * the dashboard draws in the browser, rendered without a DOM for reports.
 */
import * as echarts from 'echarts';
import type { EChartsOption } from 'echarts';

export interface SvgSize {
  width: number;
  height: number;
}

export function renderChartSvg(option: EChartsOption, size: SvgSize): string {
  const chart = echarts.init(null, null, {
    renderer: 'svg',
    ssr: true,
    width: size.width,
    height: size.height,
  });
  try {
    chart.setOption(option);
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}
