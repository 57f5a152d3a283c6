// madge ships no types; this is the part of its API (lib/api.js) the layering test uses.
declare module 'madge' {
  interface MadgeResult {
    /** Each circle as the files on it, relative to the base directory. */
    circular(): string[][];
    /** file → the files it imports (type-only imports included). */
    obj(): Record<string, string[]>;
    /** Imports madge could not resolve. */
    warnings(): { skipped: string[] };
  }
  interface MadgeConfig {
    baseDir?: string;
    fileExtensions?: string[];
    tsConfig?: string;
  }
  function madge(paths: string | string[], config?: MadgeConfig): Promise<MadgeResult>;
  export = madge;
}
