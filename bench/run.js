// `npm run bench [writer|pull|boot|create|run|scale]`: every benchmark, each as a ratio against a native peer
// run in the same script. Numbers are reported, never asserted.
import { benchWriter } from './writer.js';
import { benchPull } from './pull.js';
import { benchBoot } from './boot.js';
import { benchCreate } from './create.js';
import { benchRun } from './run-job.js';
import { benchScale } from './scale.js';

const only = process.argv[2];
if (!only || only === 'writer') benchWriter();
if (!only || only === 'pull') await benchPull();
if (!only || only === 'boot') await benchBoot();
if (!only || only === 'create') await benchCreate();
if (!only || only === 'run') await benchRun();
if (!only || only === 'scale') benchScale();
