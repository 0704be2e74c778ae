// The seccomp filter bubblewrap installs on every sandboxed Python program (`bwrap --seccomp FD`): a
// classic-BPF program, assembled here, that refuses the system calls a scoring program never needs and
// that widen the kernel's attack surface or reach past the sandbox. Everything else is allowed; the
// namespaces, rlimits and cgroup do the containing, this removes the kernel interfaces they cannot.
//
//   refused with EPERM   io_uring_*, keyctl/add_key/request_key, unshare, setns, clone with any
//                        CLONE_NEW* flag, ptrace, process_vm_readv/writev, pidfd_getfd, mount and the
//                        new mount API, pivot_root, chroot, bpf, perf_event_open, userfaultfd, module
//                        and kexec loading, open_by_handle_at, fanotify_init, quotactl, swapon/off,
//                        reboot, acct; socket() and socketpair() of any family but AF_UNIX
//   refused with ENOSYS  clone3 (its flags sit behind a pointer the filter cannot read; glibc then
//                        falls back to clone, whose flags it can), any call of another architecture's
//                        calling convention (32-bit int 0x80, x32), so numbers cannot be aliased

/** struct sock_filter: u16 code, u8 jt, u8 jf, u32 k (8 bytes, little-endian on every supported arch). */
interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K = 0x06; // BPF_RET | BPF_K

const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;
const AF_UNIX = 1;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME. */
const CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

/** Offsets in struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6] (low word first). */
const NR_OFFSET = 0;
const ARCH_OFFSET = 4;
const ARG0_LOW_OFFSET = 16;

/** The system calls the filter names, by their number on one architecture. */
export interface SyscallTable {
  /** AUDIT_ARCH_* value the kernel reports for this calling convention. */
  auditArch: number;
  /** Numbers at and above this belong to another ABI on the same arch (x86-64's x32); null if none. */
  foreignAbiFrom: number | null;
  numbers: Record<RefusedSyscall | "socket" | "socketpair" | "clone" | "clone3", number>;
}

const refusedSyscalls = [
  "io_uring_setup", "io_uring_enter", "io_uring_register",
  "keyctl", "add_key", "request_key",
  "unshare", "setns",
  "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
  "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr",
  "bpf", "perf_event_open", "userfaultfd",
  "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
  "open_by_handle_at", "fanotify_init", "quotactl", "swapon", "swapoff", "reboot", "acct",
] as const;
type RefusedSyscall = (typeof refusedSyscalls)[number];

/** Numbers from the kernel's asm/unistd_64.h (x86-64) and asm-generic/unistd.h (arm64). */
export const syscallTables: Readonly<Partial<Record<NodeJS.Architecture, SyscallTable>>> = {
  x64: {
    auditArch: 0xc000003e,
    foreignAbiFrom: 0x40000000, // __X32_SYSCALL_BIT
    numbers: {
      socket: 41, socketpair: 53, clone: 56, clone3: 435,
      io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
      keyctl: 250, add_key: 248, request_key: 249, unshare: 272, setns: 308,
      ptrace: 101, process_vm_readv: 310, process_vm_writev: 311, pidfd_getfd: 438,
      mount: 165, umount2: 166, pivot_root: 155, chroot: 161, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433,
      open_tree: 428, move_mount: 429, mount_setattr: 442,
      bpf: 321, perf_event_open: 298, userfaultfd: 323,
      init_module: 175, finit_module: 313, delete_module: 176, kexec_load: 246, kexec_file_load: 320,
      open_by_handle_at: 304, fanotify_init: 300, quotactl: 179, swapon: 167, swapoff: 168, reboot: 169, acct: 163,
    },
  },
  arm64: {
    auditArch: 0xc00000b7,
    foreignAbiFrom: null,
    numbers: {
      socket: 198, socketpair: 199, clone: 220, clone3: 435,
      io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
      keyctl: 219, add_key: 217, request_key: 218, unshare: 97, setns: 268,
      ptrace: 117, process_vm_readv: 270, process_vm_writev: 271, pidfd_getfd: 438,
      mount: 40, umount2: 39, pivot_root: 41, chroot: 51, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433,
      open_tree: 428, move_mount: 429, mount_setattr: 442,
      bpf: 280, perf_event_open: 241, userfaultfd: 282,
      init_module: 105, finit_module: 273, delete_module: 106, kexec_load: 104, kexec_file_load: 294,
      open_by_handle_at: 265, fanotify_init: 262, quotactl: 60, swapon: 224, swapoff: 225, reboot: 142, acct: 89,
    },
  },
};

/** Instructions with symbolic jump targets, resolved to relative offsets once the program is laid out. */
type Step = { op: Instruction } | { jump: number; k: number; ifTrue: string | null; ifFalse: string | null } | { label: string };

function assemble(steps: Step[]): Buffer {
  const labels = new Map<string, number>();
  let index = 0;
  for (const step of steps) {
    if ("label" in step) labels.set(step.label, index);
    else index++;
  }
  const out: Instruction[] = [];
  for (const step of steps) {
    if ("label" in step) continue;
    if ("op" in step) {
      out.push(step.op);
      continue;
    }
    const here = out.length;
    const offset = (label: string | null): number => {
      if (label === null) return 0;
      const target = labels.get(label);
      if (target === undefined || target <= here || target - here - 1 > 255) throw new Error(`seccomp filter: bad jump to ${label}`);
      return target - here - 1;
    };
    out.push({ code: step.jump, jt: offset(step.ifTrue), jf: offset(step.ifFalse), k: step.k });
  }
  const bytes = Buffer.alloc(out.length * 8);
  out.forEach((ins, i) => {
    bytes.writeUInt16LE(ins.code, i * 8);
    bytes.writeUInt8(ins.jt, i * 8 + 2);
    bytes.writeUInt8(ins.jf, i * 8 + 3);
    bytes.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return bytes;
}

const load = (offset: number): Step => ({ op: { code: LD_W_ABS, jt: 0, jf: 0, k: offset } });
const ret = (value: number): Step => ({ op: { code: RET_K, jt: 0, jf: 0, k: value } });

/** The compiled filter for `table`, as bubblewrap reads it from its --seccomp descriptor. */
export function seccompProgram(table: SyscallTable): Buffer {
  const n = table.numbers;
  const steps: Step[] = [
    load(ARCH_OFFSET),
    { jump: JEQ_K, k: table.auditArch, ifTrue: null, ifFalse: "enosys" },
    load(NR_OFFSET),
  ];
  if (table.foreignAbiFrom !== null) steps.push({ jump: JGE_K, k: table.foreignAbiFrom, ifTrue: "enosys", ifFalse: null });
  for (const name of refusedSyscalls) steps.push({ jump: JEQ_K, k: n[name], ifTrue: "eperm", ifFalse: null });
  steps.push(
    { jump: JEQ_K, k: n.clone3, ifTrue: "enosys", ifFalse: null },
    { jump: JEQ_K, k: n.clone, ifTrue: "clone", ifFalse: null },
    { jump: JEQ_K, k: n.socket, ifTrue: "socket", ifFalse: null },
    { jump: JEQ_K, k: n.socketpair, ifTrue: "socket", ifFalse: null },
    ret(RET_ALLOW),
    { label: "clone" },
    load(ARG0_LOW_OFFSET),
    { jump: JSET_K, k: CLONE_NEW_ANY, ifTrue: "eperm", ifFalse: null },
    ret(RET_ALLOW),
    { label: "socket" },
    load(ARG0_LOW_OFFSET),
    { jump: JEQ_K, k: AF_UNIX, ifTrue: "allow", ifFalse: "eperm" },
    { label: "allow" },
    ret(RET_ALLOW),
    { label: "eperm" },
    ret(RET_ERRNO | EPERM),
    { label: "enosys" },
    ret(RET_ERRNO | ENOSYS),
  );
  return assemble(steps);
}

/** The filter for this machine's architecture, or null when there is no table for it. */
export function seccompProgramForThisMachine(): Buffer | null {
  const table = syscallTables[process.arch];
  return table ? seccompProgram(table) : null;
}
