/**
 * The vCPU state blob sent at switchover: per vCPU its run time, writes emitted, the workload's
 * registers (cursor, RNG state) and the writes it owed while blocked on a full ring (a vCPU in
 * that exit re-executes them after resuming). Little-endian float64s behind a magic and version.
 */
import { WriteBatch } from './batch';

const MAGIC = 0x50435653; // 'PCVS'
const VERSION = 1;

export interface VcpuRegisters {
  cpuMs: number;
  emitted: number;
  registers: number[];
  pending: WriteBatch;
}

export function encodeVcpuState(vcpus: VcpuRegisters[]): Uint8Array {
  const values: number[] = [MAGIC, VERSION, vcpus.length];
  for (const v of vcpus) {
    values.push(v.cpuMs, v.emitted, v.registers.length, ...v.registers, v.pending.length);
    for (let i = 0; i < v.pending.length; i++)
      values.push(v.pending.page[i]!, v.pending.offset[i]!, v.pending.source[i]!);
  }
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((x, i) => view.setFloat64(i * 8, x, true));
  return out;
}

export function decodeVcpuState(blob: Uint8Array, vcpus: number): VcpuRegisters[] {
  if (blob.length % 8 !== 0 || blob.length < 24)
    throw new Error(`vCPU state: ${blob.length} bytes is not a state blob`);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const count = blob.length / 8;
  let at = 0;
  const next = (): number => {
    if (at >= count) throw new Error('vCPU state: truncated');
    return view.getFloat64(8 * at++, true);
  };
  if (next() !== MAGIC) throw new Error('vCPU state: bad magic');
  const version = next();
  if (version !== VERSION) throw new Error(`vCPU state: version ${version}, expected ${VERSION}`);
  const n = next();
  if (n !== vcpus) throw new Error(`vCPU state: ${n} vCPUs, the guest has ${vcpus}`);
  const out: VcpuRegisters[] = [];
  for (let v = 0; v < n; v++) {
    const cpuMs = next();
    const emitted = next();
    const registers = Array.from({ length: next() }, next);
    const pendingLength = next();
    const pending = new WriteBatch(1, Math.max(1, pendingLength));
    for (let i = 0; i < pendingLength; i++) pending.push(next(), next(), next());
    out.push({ cpuMs, emitted, registers, pending });
  }
  if (at !== count) throw new Error('vCPU state: trailing bytes');
  return out;
}
