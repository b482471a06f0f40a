// The audit page's pure parts: which filters the URL holds and which controls a record names.
import type { Schemas } from '$lib/api/client';

export const AUDIT_FILTERS = ['actor', 'outcome', 'action', 'server', 'target', 'control', 'since', 'until'] as const;
export type AuditFilter = (typeof AUDIT_FILTERS)[number];

/** The `/api/v1/audit` query the page's URL asks for (times as RFC 3339, empty values left out). */
export function auditQuery(params: URLSearchParams): Record<string, string> {
	const out: Record<string, string> = {};
	for (const field of [...AUDIT_FILTERS, 'cursor']) {
		const value = params.get(field);
		if (value) out[field] = field === 'since' || field === 'until' ? new Date(value).toISOString() : value;
	}
	return out;
}

function strings(value: unknown): string[] {
	return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string' && item !== '') : [];
}

/** The compliance controls a record names: those its policy violations cite ("PCI DSS Req 3.4"),
 * and the others its decision had in scope (`details.policy.controls`); each once. */
export function recordControls(record: Pick<Schemas['AuditItem'], 'details'>): { cited: string[]; inScope: string[] } {
	const details = record.details as { violations?: unknown; policy?: unknown };
	const violations = Array.isArray(details.violations) ? (details.violations as unknown[]) : [];
	const cited = [
		...new Set(
			violations.flatMap((v) =>
				v !== null && typeof v === 'object' && typeof (v as { control?: unknown }).control === 'string'
					? [(v as { control: string }).control]
					: []
			)
		)
	].filter((c) => c !== '');
	const policy = details.policy !== null && typeof details.policy === 'object' ? (details.policy as { controls?: unknown }) : {};
	const inScope = [...new Set(strings(policy.controls))].filter((c) => !cited.includes(c));
	return { cited, inScope };
}
