/** The identifier scheme of every participant hsmp answers for (SPEC §2). */
export const PARTICIPANT_SCHEME = 'iso6523-actorid-upis';

/** A Belgian enterprise as a Peppol participant; parsed from its spellings in participants/participant-id. */
export interface BelgianParticipant {
  /** Ten digits, e.g. 0123456789. */
  enterpriseNumber: string;
  /** The identifier value the SML knows: 0208:0123456789. */
  value: string;
}
