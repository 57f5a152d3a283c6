/** connectSource: validate the options, open the transport, wrap it in a Session. */
import { z } from 'zod';
import { wallClock } from '../util/clock';
import { DEFAULT_BATCH_PAGES, MAX_BATCH_PAGES, MAX_CHANNELS } from '../wire/constants';
import { WireError } from '../wire/errors';
import { inprocPair } from './inproc';
import type { ConnectOptions, SourceSession, Transport } from './types';
import { Session } from './session';
import { connectWs } from './ws-client';

const optionsSchema = z.object({
  transport: z.enum(['inproc', 'ws']),
  url: z.string().optional(),
  token: z.string().min(1).max(255),
  encodings: z
    .array(z.enum(['zero', 'raw', 'lz4', 'xbzrle']))
    .min(1)
    .default(['zero', 'lz4']),
  xbzrleCacheSize: z
    .number()
    .int()
    .min(4096)
    .refine((n) => (n & (n - 1)) === 0, 'must be a power of two')
    .default(64 << 20),
  maxBatchPages: z.number().int().min(1).max(MAX_BATCH_PAGES).default(DEFAULT_BATCH_PAGES),
  maxBufferedBytes: z.number().int().min(1).optional(),
  maxBandwidth: z.number().min(0).finite().default(0),
  keepaliveMs: z.number().min(0).optional(),
  zeroMask: z.boolean().default(true),
  stallMs: z.number().min(0).optional(),
  deadlines: z
    .object({
      helloMs: z.number().positive().optional(),
      replyMs: z.number().positive().optional(),
      recoveryMs: z.number().positive().optional(),
      retryMs: z.number().positive().optional(),
    })
    .optional(),
  channels: z.number().int().min(0).max(MAX_CHANNELS).default(0),
  zeroOnMain: z.boolean().default(false),
});

export async function connectSource(options: ConnectOptions): Promise<SourceSession> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success)
    throw new WireError('PRECOPY_ERR_USAGE', `connectSource: ${z.prettifyError(parsed.error)}`);
  const o = parsed.data;
  const clock = options.clock ?? wallClock();
  const sessionOptions = {
    token: o.token,
    encodings: o.encodings,
    xbzrleCacheSize: o.xbzrleCacheSize,
    maxBatchPages: o.maxBatchPages,
    maxBandwidth: o.maxBandwidth,
    clock,
    deadlines: { ...o.deadlines, ...(options.deadlineClock ? { clock: options.deadlineClock } : {}) },
    zeroOnMain: o.zeroOnMain,
    faults: options.faults,
  };
  const wrap = (i: number, t: Transport) => options.faults?.channel?.(i, t) ?? t;
  if (o.transport === 'inproc') {
    const destination = options.destination;
    if (!destination)
      throw new WireError('PRECOPY_ERR_USAGE', 'connectSource: transport inproc needs `destination`');
    const [source, destinationEnd] = inprocPair();
    destination.attach(destinationEnd);
    // The recovery query's fresh connection: a new pair to the same destination.
    const reopen = async () => {
      const [query, queryEnd] = inprocPair();
      destination.attachQuery(queryEnd);
      return query;
    };
    const channels = Array.from({ length: o.channels }, (_, i) => {
      const [channel, channelEnd] = inprocPair();
      destination.attachChannel(channelEnd, i);
      return wrap(i, channel);
    });
    const reopenRecovery = async () => {
      const [recovery, recoveryEnd] = inprocPair();
      destination.attachRecovery(recoveryEnd);
      return recovery;
    };
    return new Session(source, { ...sessionOptions, channels, reopen, reopenRecovery });
  }
  if (!o.url)
    throw new WireError('PRECOPY_ERR_USAGE', 'connectSource: transport ws needs `url` (ws://127.0.0.1:PORT)');
  const ws = (url: string) =>
    connectWs({
      url,
      token: o.token,
      clock,
      zeroMask: o.zeroMask,
      keepaliveMs: o.keepaliveMs,
      maxBufferedBytes: o.maxBufferedBytes,
      stallMs: o.stallMs,
      faults: options.faults,
    });
  const transport = await ws(o.url);
  const channels: Transport[] = [];
  try {
    // The main link first: the destination takes channels only while it serves a migration.
    for (let i = 0; i < o.channels; i++) channels.push(wrap(i, await ws(channelUrl(o.url, i))));
  } catch (e) {
    for (const t of [transport, ...channels]) t.close(1000, 'channel failed');
    throw e;
  }
  // No keepalive on the query connection: it lives for one QUERY and its OUTCOME.
  const reopen = () => connectWs({ url: routeUrl(o.url!, '/query'), token: o.token, clock, keepaliveMs: 0 });
  const reopenRecovery = () => ws(routeUrl(o.url!, '/recover'));
  return new Session(transport, { ...sessionOptions, channels, reopen, reopenRecovery });
}

/** A multifd channel's URL: the destination's, path `/channel/<i>`. */
function channelUrl(url: string, index: number): string {
  return routeUrl(url, `/channel/${index}`);
}

/** The destination's URL with another path (a channel's, the recovery query's). */
function routeUrl(url: string, path: string): string {
  const u = new URL(url);
  u.pathname = path;
  return u.toString();
}
