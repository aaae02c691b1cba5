// `npm run bench [writer|pull|boot]`: every benchmark, each as a ratio against a native peer
// run in the same script. Numbers are reported, never asserted.
import { benchWriter } from './writer.js';
import { benchPull } from './pull.js';
import { benchBoot } from './boot.js';

const only = process.argv[2];
if (!only || only === 'writer') benchWriter();
if (!only || only === 'pull') await benchPull();
if (!only || only === 'boot') await benchBoot();
