// `npm run chaos -- --minutes N [--seed S] [--rate R]`: the chaos campaign for release checks, longer
// than the one `npm test` runs. Prints the seed first (replay a failure with --seed), the faults as
// they happen, then the judge's report; exits 1 unless every invariant held.
import { parseArgs } from 'node:util';
import { formatReport, runCampaign } from './campaign.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '5' }, seed: { type: 'string' }, rate: { type: 'string', default: '60' } } });
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(values.seed);
if (!(minutes > 0) || !(rate > 0) || !Number.isInteger(seed)) {
  console.error('chaos: --minutes and --rate must be positive numbers, --seed an integer');
  process.exit(2);
}
console.log(`chaos: seed ${seed}, ${minutes} min at ${rate} msg/s`);
const report = await runCampaign({ seed, messages: Math.round(minutes * 60 * rate), rate, log: (line) => console.log(line) });
for (const line of formatReport(report)) console.log(line);
process.exit(report.clean ? 0 : 1);
