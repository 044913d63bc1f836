import { XMLParser } from 'fast-xml-parser';
import { convert } from 'xmlbuilder2';
import { buildListResponse, readListResponse } from '../src/sml/soap';

/**
 * `npm run bench:xml`: how the SML client reads a List page, measured against the XML library
 * the project already had (xmlbuilder2, a DOM parser), on the same page of 1000 participants.
 */
const page = buildListResponse({
  smpId: 'HERMES-SMP',
  participants: Array.from({ length: 1000 }, (_, i) => `0208:${String(1_000_000_000 + i * 97).padStart(10, '0')}`),
  nextPageIdentifier: '1000',
});
const ROUNDS = 300;

function time(name: string, parse: () => unknown): void {
  for (let i = 0; i < 20; i++) parse();
  const started = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) parse();
  const ms = Number(process.hrtime.bigint() - started) / 1e6 / ROUNDS;
  console.log(`${name.padEnd(48)} ${ms.toFixed(3)} ms per page`);
}

console.log(`List page of 1000 participants, ${page.length} bytes, ${ROUNDS} rounds, Node ${process.version}`);
const bare = new XMLParser({ removeNSPrefix: true, ignoreAttributes: false, parseTagValue: false });
time('fast-xml-parser, parse only', () => bare.parse(page));
time('fast-xml-parser, as the SML client reads it (readListResponse)', () => readListResponse(page));
time('xmlbuilder2 convert (DOM) to object', () => convert(page, { format: 'object' }));
