/**
 * The page runs precopy's own chart definitions, not a copy: the browser-shared viz modules are
 * transpiled from their TypeScript source to ES modules on first request (TypeScript is already
 * how precopy runs: bin/precopy.js goes through ts-node), so there is no build step and no
 * second implementation of the charts in JavaScript.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

/** Modules the page may load from /lib/<name>: they import nothing at runtime but each other. */
export const BROWSER_MODULES = [
  'format',
  'run-view',
  'summary',
  'charts',
  'overlay',
  'round-table',
  'dashboard-page',
  'control-panel',
  'feed-socket',
  'dest-view',
  'dest-page',
] as const;
export type BrowserModule = (typeof BROWSER_MODULES)[number];

const cache = new Map<BrowserModule, string>();

export function isBrowserModule(name: string): name is BrowserModule {
  return (BROWSER_MODULES as readonly string[]).includes(name);
}

export function browserModule(name: BrowserModule): string {
  let js = cache.get(name);
  if (js === undefined) {
    const source = readFileSync(join(__dirname, `${name}.ts`), 'utf8');
    js = ts.transpileModule(source, {
      fileName: `${name}.ts`,
      compilerOptions: {
        module: ts.ModuleKind.ES2022,
        target: ts.ScriptTarget.ES2022,
        isolatedModules: true,
      },
    }).outputText;
    cache.set(name, js);
  }
  return js;
}

/** The page's static files (HTML, CSS), read once. */
const pageCache = new Map<string, string>();
export function pageFile(name: 'index.html' | 'dest.html' | 'style.css'): string {
  let text = pageCache.get(name);
  if (text === undefined) {
    text = readFileSync(join(__dirname, 'page', name), 'utf8');
    pageCache.set(name, text);
  }
  return text;
}

/** ECharts' own browser build, from node_modules (there is no CDN to load it from). */
let echarts: Buffer | undefined;
export function echartsBundle(): Buffer {
  echarts ??= readFileSync(require.resolve('echarts/dist/echarts.min.js'));
  return echarts;
}
