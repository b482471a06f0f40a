import { describe, expect, it } from 'vitest';
import { toCsv } from '$lib/csv';

describe('usage CSV', () => {
	it('has a header and one line per row', () => {
		expect(toCsv(['client', 'calls'], [['alice', 3], [null, 0]])).toBe('client,calls\r\nalice,3\r\n,0\r\n');
	});

	it('quotes commas, quotes and newlines', () => {
		expect(toCsv(['tool'], [['a,b'], ['say "hi"'], ['two\nlines']])).toBe(
			'tool\r\n"a,b"\r\n"say ""hi"""\r\n"two\nlines"\r\n'
		);
	});

	it('never lets a spreadsheet run a value as a formula', () => {
		expect(toCsv(['tool'], [['=HYPERLINK("x")'], ['@sum'], ['-1+1']])).toBe(
			'tool\r\n"\'=HYPERLINK(""x"")"\r\n\'@sum\r\n\'-1+1\r\n'
		);
	});
});
