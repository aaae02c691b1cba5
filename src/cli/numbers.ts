/**
 * Whole-number flags. yargs' `type: 'number'` turns `--timeout abc` into NaN and loses
 * what was typed; these keep the text for the error. Ranges are the library's to check.
 */
import { InfraError } from '../errors.js';
import { escapeControls } from './escape.js';

/** A yargs `coerce` for `--flag`: a whole number, or a usage error quoting the value. */
export function wholeNumber(flag: string): (raw: unknown) => number {
  return (raw) => {
    if (typeof raw === 'number') return raw;
    const text = String(Array.isArray(raw) ? raw.at(-1) : raw).trim();
    const value = text === '' ? NaN : Number(text);
    if (!Number.isInteger(value)) throw new InfraError('USAGE', `--${flag} takes a whole number, not '${escapeControls(text)}'.`);
    return value;
  };
}
