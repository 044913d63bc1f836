import { XMLParser } from 'fast-xml-parser';
import { convert } from 'xmlbuilder2';
import { buildListResponse, readListResponse } from '../src/sml/soap';

/**
 * `npm run bench:xml`: how the SML client reads a List page, measured against the XML library
 * the project already had (xmlbuilder2, a DOM parser) and against fast-xml-parser's object
 * output (what the client used before it read the document-order output), on a page of 50
 * participants (BDMSL's page) and one of 1000. CPU time of this process, a median of rounds.
 */
function listPage(participants: number): string {
  return buildListResponse({
    smpId: 'HERMES-SMP',
    participants: Array.from({ length: participants }, (_, i) => `0208:${String(1_000_000_000 + i * 97).padStart(10, '0')}`),
    nextPageIdentifier: '1000',
  });
}

function time(name: string, parse: () => unknown, rounds: number): void {
  for (let i = 0; i < rounds; i++) parse();
  const perRound: number[] = [];
  for (let round = 0; round < 11; round++) {
    const started = process.cpuUsage();
    for (let i = 0; i < rounds; i++) parse();
    const used = process.cpuUsage(started);
    perRound.push((used.user + used.system) / 1000 / rounds);
  }
  perRound.sort((a, b) => a - b);
  console.log(`${name.padEnd(64)} ${perRound[5].toFixed(3)} ms per page`);
}

const objects = new XMLParser({ removeNSPrefix: true, ignoreAttributes: false, parseTagValue: false });
for (const participants of [50, 1000]) {
  const page = listPage(participants);
  const rounds = participants === 50 ? 1000 : 50;
  console.log(`List page of ${participants} participants, ${page.length} bytes, Node ${process.version}`);
  time('  fast-xml-parser, object output, parse only', () => objects.parse(page), rounds);
  time('  fast-xml-parser, document order, as the SML client reads it', () => readListResponse(page), rounds);
  time('  xmlbuilder2 convert (DOM) to object', () => convert(page, { format: 'object' }), rounds);
}
