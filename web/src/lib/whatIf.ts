// The what-if panel's pure parts: which audit records can seed it and how they are named.
import type { Schemas } from '$lib/api/client';

/** Recent records the panel offers: those that keep a policy decision input (`details.input`),
 * newest first, at most `limit`. */
export function decidedRecords(records: Schemas['AuditItem'][], limit = 20): Schemas['AuditItem'][] {
	return records
		.filter((r) => {
			const input = (r.details as { input?: unknown }).input;
			return input !== null && typeof input === 'object' && !Array.isArray(input);
		})
		.slice(0, limit);
}

type Named = Pick<Schemas['AuditItem'], 'actor' | 'server' | 'target' | 'outcome'>;

/** "alice · everything/echo · policy_denied" (the time is shown beside it, in local time). */
export function recordLabel(record: Named): string {
	const call = [record.server, record.target].filter((part) => part).join('/') || '—';
	return `${record.actor} · ${call} · ${record.outcome}`;
}

type Reviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;
const rawJson = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;

/** `JSON.parse`, keeping integers beyond 2^53 (an input's `request.time_ns`) exact: they stay
 * raw JSON text, which `JSON.stringify` writes back as it was (where the browser has
 * `JSON.rawJSON`; elsewhere they round, as plain `JSON.parse` does). */
export function parseExact(text: string): unknown {
	if (typeof rawJson !== 'function') return JSON.parse(text);
	const reviver: Reviver = (_key, value, context) =>
		typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value) && context?.source
			? rawJson(context.source)
			: value;
	return JSON.parse(text, reviver as (key: string, value: unknown) => unknown);
}
