// Tool trust reviews: helpers to show a held change (its diff) and to decide it.
import type { Schemas } from '$lib/api/client';

export type ToolReview = Schemas['ToolReview'];
export type Verdict = 'approve' | 'reject';
export type DiffLine = { kind: 'add' | 'remove' | 'hunk' | 'file' | 'same'; text: string };

/** A unified diff's lines, each with what it is (for colour and a screen reader's label). */
export function diffLines(unified: string): DiffLine[] {
	return unified.split('\n').map((text) => {
		if (text.startsWith('+++') || text.startsWith('---')) return { kind: 'file', text };
		if (text.startsWith('@@')) return { kind: 'hunk', text };
		if (text.startsWith('+')) return { kind: 'add', text };
		if (text.startsWith('-')) return { kind: 'remove', text };
		return { kind: 'same', text };
	});
}

/** A JSON value of the diff as one line of text (absent: an em dash). */
export function jsonText(value: unknown): string {
	if (value === undefined || value === null) return '—';
	return JSON.stringify(value);
}

/** The hashes a decision was made on: a tool changed again since answers 412. */
export function expected(reviews: ToolReview[]): Record<string, string> {
	const found: Record<string, string> = {};
	for (const review of reviews) if (review.definitionHash) found[review.tool] = review.definitionHash;
	return found;
}

/** Reviews grouped by server, in the API's order (server, tool). */
export function byServer(reviews: ToolReview[]): [string, ToolReview[]][] {
	const groups = new Map<string, ToolReview[]>();
	for (const review of reviews) {
		const group = groups.get(review.server);
		if (group) group.push(review);
		else groups.set(review.server, [review]);
	}
	return [...groups.entries()];
}

/** What an answer to a decision means for the person who asked it. */
export function decisionProblem(status: number, tools: string[], detail: string): string {
	if (status === 412) {
		return (
			`${tools.join(', ')} changed again after this page showed it: the server offered another ` +
			'definition since, so nothing was decided. The list is reloaded: review the new offer.'
		);
	}
	if (status === 409) return `${detail} Tick "approve despite the high-severity finding" to override.`;
	return detail;
}
