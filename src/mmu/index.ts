/** The simulated KVM TDP MMU: KVM's userspace API over a faithful model of its dirty logging. */
export * from './api';
export { createVm, KvmVm, KVM_USER_MEM_SLOTS } from './vm';
