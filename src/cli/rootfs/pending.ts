import { InfraError } from '../../errors.js';

/** For commands whose work has not landed: fail plainly instead of printing anything fake. */
export function notYet(command: string, issue: string): never {
  throw new InfraError('NOT_IMPLEMENTED', `'infra.operator rootfs ${command}' is not implemented yet (${issue}).`);
}
