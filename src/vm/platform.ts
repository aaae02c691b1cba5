/**
 * Which images the VM can run: its own architecture against an image's, named as OCI
 * platforms name them (GOARCH: amd64, arm64…). An image's architecture comes from its
 * sidecar, else from the ELF header of one of its programs (decoded here).
 */
import { InfraError } from '../errors.js';

/** The VM's platform: qemu-system-x86_64 with the host's x86_64 kernel. */
export const VM_PLATFORM = { os: 'linux', architecture: 'amd64' } as const;

/** Architectures an x86_64 kernel runs: its own, and i386 through IA-32 emulation (Debian's kernels have it). */
const VM_RUNS: readonly string[] = ['amd64', '386'];

/**
 * The ELF identification and header fields read here (System V ABI, "ELF Header"; Linux
 * include/uapi/linux/elf.h): offsets in e_ident, then e_machine's.
 */
const ELF = {
  magic: Buffer.from([0x7f, 0x45, 0x4c, 0x46]), // e_ident[EI_MAG0..EI_MAG3]: \x7fELF
  EI_CLASS: 4, // 1 ELFCLASS32, 2 ELFCLASS64
  EI_DATA: 5, // 1 ELFDATA2LSB, 2 ELFDATA2MSB
  e_machine: 18, // half-word, in EI_DATA's byte order
  headerBytes: 20,
} as const;
const ELFCLASS64 = 2;
const ELFDATA2MSB = 2;

/** e_machine values (include/uapi/linux/elf-em.h) → OCI architecture, by class and byte order where they split. */
const MACHINES: Readonly<Record<number, (is64: boolean, bigEndian: boolean) => string>> = {
  3: () => '386', // EM_386
  8: (is64, be) => (is64 ? (be ? 'mips64' : 'mips64le') : be ? 'mips' : 'mipsle'), // EM_MIPS
  20: () => 'ppc', // EM_PPC
  21: (_, be) => (be ? 'ppc64' : 'ppc64le'), // EM_PPC64
  22: () => 's390x', // EM_S390
  40: () => 'arm', // EM_ARM
  62: () => 'amd64', // EM_X86_64
  183: () => 'arm64', // EM_AARCH64
  243: (is64) => (is64 ? 'riscv64' : 'riscv32'), // EM_RISCV
  258: () => 'loong64', // EM_LOONGARCH
};

/**
 * The OCI architecture of an ELF file from its first bytes; undefined when they are not
 * an ELF header. `e_machine N` for a machine not in the table.
 */
export function elfArchitecture(header: Buffer): string | undefined {
  if (header.length < ELF.headerBytes || !header.subarray(0, ELF.magic.length).equals(ELF.magic)) return undefined;
  const bigEndian = header[ELF.EI_DATA] === ELFDATA2MSB;
  const machine = bigEndian ? header.readUInt16BE(ELF.e_machine) : header.readUInt16LE(ELF.e_machine);
  return MACHINES[machine]?.(header[ELF.EI_CLASS] === ELFCLASS64, bigEndian) ?? `e_machine ${machine}`;
}

/**
 * Refuses an image of an architecture the VM cannot run: its kernel would panic on the
 * first program (an arm64 init under x86_64 spins for half a minute and says nothing).
 * `source` says where the architecture was read.
 */
export function checkArchitecture(architecture: string, image: string, source: string): void {
  if (VM_RUNS.includes(architecture)) return;
  throw new InfraError(
    'PLATFORM',
    `${image} is a linux/${architecture} image (${source}); this VM runs ${VM_PLATFORM.os}/${VM_PLATFORM.architecture}. ` +
      `Build it for ${VM_PLATFORM.os}/${VM_PLATFORM.architecture} (rootfs from-docker with the platform ${VM_PLATFORM.os}/${VM_PLATFORM.architecture}).`,
    { path: image },
  );
}
