import { checkEdgeRule, Guest, parseGuestSpec } from '../../src/guest';
import { virtualClock } from '../../src/util/clock';
import { copyMemory, makeGuest } from './helpers';

describe('vCPU state: a guest resumes elsewhere from its memory and state blob', () => {
  it.each([
    { kind: 'hotcold', rate: '16MiB/s', hot: '1MiB' },
    { kind: 'sequential', rate: '16MiB/s' },
    { kind: 'incrementer', rate: '16MiB/s', offset: 0, size: '1MiB' },
    {
      kind: 'phased',
      phases: [
        { duration: '300ms', workload: { kind: 'uniform', rate: '16MiB/s' } },
        { duration: '200ms', workload: { kind: 'idle' } },
      ],
    },
    { kind: 'replay', trace: '0 1-40\n120 300+12\n480 77', period: '500ms' },
  ])('$kind: the migrated guest makes the same writes as one that never moved', (workload) => {
    const input = { memory: '16MiB', vcpus: 2, fill: { populated: '25%' }, workload };
    const source = makeGuest(input);
    const stayed = makeGuest(input);
    source.guest.start();
    source.clock.advanceTo(700.5);
    source.guest.pauseAll();
    const blob = source.guest.vcpuState();
    expect(blob.length).toBeLessThan(512);

    const clock = virtualClock();
    const moved = Guest.create(parseGuestSpec(input), clock, { memory: copyMemory(source.guest.bytes) });
    moved.loadVcpuState(blob);
    moved.start();
    clock.advanceTo(1299.5);
    moved.stop();

    stayed.guest.start();
    stayed.clock.advanceTo(2000);
    stayed.guest.stop();
    expect(moved.memory.imageHash()).toBe(stayed.guest.bytes.imageHash());
    if (moved.edgeRegion) expect(checkEdgeRule(moved.memory, 0, 256).passed).toBe(true);
  });

  it('rejects a blob that is not a vCPU state or is for another guest', () => {
    const { guest } = makeGuest({ memory: '4MiB', vcpus: 2 });
    const blob = guest.vcpuState();
    const other = makeGuest({ memory: '4MiB', vcpus: 3 }).guest;
    expect(() => other.loadVcpuState(blob)).toThrow(/2 vCPUs, the guest has 3/);
    expect(() => guest.loadVcpuState(new Uint8Array(7))).toThrow(/not a state blob/);
    expect(() => guest.loadVcpuState(blob.subarray(0, blob.length - 8))).toThrow(/truncated/);
    const bad = blob.slice();
    bad[0] ^= 0xff;
    expect(() => guest.loadVcpuState(bad)).toThrow(/bad magic/);
  });

  it('refuses to load into a running guest', () => {
    const { guest } = makeGuest({ memory: '4MiB' });
    guest.start();
    expect(() => guest.loadVcpuState(guest.vcpuState())).toThrow(/stop the guest first/);
    guest.stop();
  });
});
