// Quotas near their limit on the overview: `GET /api/v1/quotas?minUsed=…` answers each active
// subscription's day or month quota with its use; these turn one into words and a link.
import type { Schemas } from '$lib/api/client';

export type Quota = Schemas['QuotaItem'];

/** How near the limit counts as near (80 % used). */
export const NEAR = 0.8;

/** Whose quota: the client, or the person or group a subscription names. */
export function quotaOwner(quota: Quota): string {
	if (quota.client) return quota.client;
	if (quota.subject?.user) return `person ${quota.subject.user}`;
	if (quota.subject?.group) return `group ${quota.subject.group}`;
	return '—';
}

/** "8 of 10 today (80 %)", "100 of 100 this month (100 %, exhausted)". */
export function quotaUse(quota: Quota): string {
	const period = quota.period === 'day' ? 'today' : 'this month';
	const share = Math.floor(quota.usedFraction * 100);
	const exhausted = quota.used >= quota.limit ? ', exhausted' : '';
	return `${quota.used} of ${quota.limit} ${period} (${share} %${exhausted})`;
}

/** The subscriptions page, filtered to the client when there is one, at the subscription's row. */
export function subscriptionHref(base: string, quota: Quota): string {
	const query = quota.client ? `?client=${encodeURIComponent(quota.client)}` : '';
	return `${base}/subscriptions${query}#subscription-${encodeURIComponent(quota.subscription)}`;
}
